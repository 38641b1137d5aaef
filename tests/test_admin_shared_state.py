"""Two daemon apps on one database share the admin state: sessions, CSRF, OAuth round trips
and sign-in limits (issue 16), on SQLite and on PostgreSQL. Each instance has its own
Database object, as two processes would; a "restart" is a new app with a new Database on
the same file or database."""

from __future__ import annotations

import json
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from cli.app import create_daemon_app
from store import open_database
from tests.plugins.browser import DAEMON_ADMIN, DAEMON_PASSWORD, AdminEnv
from tests.test_admin_security import _CSRF, _META
from tests.test_admin_setup import _submit_form_post


@pytest.fixture
def backend(both_backends: str) -> str:
    return both_backends


@asynccontextmanager
async def other_instance(env: AdminEnv) -> AsyncIterator[TestServer]:
    """A second daemon app with its own connections to the same database and key."""
    db = await open_database(env.settings.store_location, env.db.box)
    server = TestServer(create_daemon_app(env.settings, db=db), host="127.0.0.1")
    await server.start_server()
    try:
        yield server
    finally:
        await server.close()
        await db.close()


def base(server: TestServer) -> str:
    return str(server.make_url("")).rstrip("/")


@pytest.fixture
async def http(admin_env: AdminEnv) -> AsyncIterator[aiohttp.ClientSession]:
    """One browser: its cookies for 127.0.0.1 go to both instances (cookies ignore ports)."""
    context = ssl.create_default_context(cafile=admin_env.emus.info["ca_path"])
    jar = aiohttp.CookieJar(unsafe=True)
    connector = aiohttp.TCPConnector(ssl=context)
    async with aiohttp.ClientSession(cookie_jar=jar, connector=connector) as session:
        yield session


async def sign_in(http: aiohttp.ClientSession, at: str, user: str, password: str) -> int:
    async with http.get(f"{at}/login") as page:
        match = _CSRF.search(await page.text())
    assert match
    form = {"username": user, "password": password, "csrf_token": match.group(1), "next": "/links"}
    async with http.post(f"{at}/login", data=form, allow_redirects=False) as response:
        await response.read()
        return response.status


async def links_status(http: aiohttp.ClientSession, at: str) -> int:
    async with http.get(f"{at}/links", allow_redirects=False) as response:
        return response.status


async def csrf_of(http: aiohttp.ClientSession, at: str) -> str:
    async with http.get(f"{at}/links") as page:
        match = _META.search(await page.text())
    assert match
    return match.group(1)


def session_cookie(http: aiohttp.ClientSession) -> str:
    return next(c.value for c in http.cookie_jar if c.key == "m365sync_session")


async def raw_database(env: AdminEnv) -> bytes:
    """Every byte SQLite has written (the file and its write-ahead log); on PostgreSQL,
    every value of every table."""
    if env.settings.database_url is None:
        wal = env.db.path.with_name(env.db.path.name + "-wal")
        return env.db.path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")
    values = []
    tables = await env.db.fetchall(
        "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
    )
    for table in (t["tablename"] for t in tables):
        for row in await env.db.fetchall(f'SELECT * FROM "{table}"'):  # noqa: S608 (our tables)
            values += [v if isinstance(v, bytes) else str(v).encode() for v in tuple(row)]
    return b"\n".join(values)


async def test_a_session_from_one_instance_works_on_the_other_and_survives_a_restart(
    admin_env: AdminEnv, http: aiohttp.ClientSession
) -> None:
    """Signed in on A: B lets the browser in (CSRF included); a restarted B still does."""
    a = admin_env.base_url
    assert await sign_in(http, a, DAEMON_ADMIN, DAEMON_PASSWORD) == 303
    async with other_instance(admin_env) as server_b:
        b = base(server_b)
        assert await links_status(http, b) == 200
        csrf = await csrf_of(http, b)
        assert csrf == await csrf_of(http, a)
        form = {"csrf_token": csrf}
        async with http.post(f"{b}/links/{admin_env.link.id}/resync", data=form) as resync:
            assert resync.status == 200  # followed the redirect to a page: CSRF accepted on B
    # A restart: new app, new connections, same file.
    async with other_instance(admin_env) as restarted:
        assert await links_status(http, base(restarted)) == 200


async def test_logout_on_one_instance_ends_the_session_on_the_other(
    admin_env: AdminEnv, http: aiohttp.ClientSession
) -> None:
    """A kept copy of the cookie is refused on A after signing out on B."""
    a = admin_env.base_url
    assert await sign_in(http, a, DAEMON_ADMIN, DAEMON_PASSWORD) == 303
    token = session_cookie(http)
    csrf = await csrf_of(http, a)
    async with (
        other_instance(admin_env) as server_b,
        http.post(f"{base(server_b)}/logout", data={"csrf_token": csrf}) as out,
    ):
        assert out.status == 200
    http.cookie_jar.update_cookies({"m365sync_session": token})
    assert await links_status(http, a) == 303


async def test_the_sign_in_limit_counts_failures_on_both_instances(
    admin_env: AdminEnv, http: aiohttp.ClientSession
) -> None:
    """Three failures on A and two on B lock the account on both: 429 with Retry-After."""
    a = admin_env.base_url
    async with other_instance(admin_env) as server_b:
        b = base(server_b)
        for at in (a, a, a, b, b):
            assert await sign_in(http, at, DAEMON_ADMIN, "wrong password") == 401
        for at in (a, b):
            async with http.get(f"{at}/login") as page:
                match = _CSRF.search(await page.text())
            assert match
            form = {"username": DAEMON_ADMIN, "password": DAEMON_PASSWORD}
            form["csrf_token"] = match.group(1)
            async with http.post(f"{at}/login", data=form, allow_redirects=False) as limited:
                assert limited.status == 429, at
                assert 0 < int(limited.headers["Retry-After"]) <= 15 * 60 + 1


async def _to_microsoft_and_back_to(
    http: aiohttp.ClientSession, start: str, form: dict[str, str], callback_base: str
) -> str:
    """Start a round trip on one instance; send Microsoft's redirect back to another."""
    async with http.post(start, data=form, allow_redirects=False) as started:
        location = started.headers["Location"]
    while True:
        async with http.get(location, allow_redirects=False) as hop:
            if hop.status not in (301, 302, 303, 307):
                return await hop.text()
            location = hop.headers["Location"]
        parts = urlsplit(location)
        if parts.path.startswith("/auth/"):
            location = f"{callback_base}{parts.path}?{parts.query}"


async def test_oauth_round_trips_started_on_one_instance_finish_on_the_other(
    admin_env: AdminEnv, http: aiohttp.ClientSession
) -> None:
    """Admin Consent and OAuth Token (PKCE) started on A, Microsoft's callbacks landing on B:
    A's Setup page shows both results; the session token and the PKCE verifier are never
    in the database's bytes."""
    env = admin_env
    a = env.base_url
    assert await sign_in(http, a, *env.tenant_admin) == 303
    csrf = await csrf_of(http, a)
    setup = f"{a}/links/{env.link.id}/setup"
    async with other_instance(env) as server_b:
        b = base(server_b)
        bounce = await _to_microsoft_and_back_to(http, f"{setup}/consent", {"csrf_token": csrf}, b)
        assert "expired" not in bounce
        async with http.get(setup) as page:
            assert "Admin consent granted." in await page.text()

        async with http.post(f"{setup}/token", data={"csrf_token": csrf}) as microsoft:
            form_post = await microsoft.text()
        row = await env.db.fetchone("SELECT data FROM admin_flows")
        assert row is not None
        flow = json.loads(env.db.box.decrypt_text(row["data"]))
        verifier = str(flow["code_verifier"])
        raw = await raw_database(env)
        assert len(verifier) >= 43 and verifier.encode() not in raw
        assert session_cookie(http).encode() not in raw and csrf.encode() not in raw
        action = urlsplit(form_post.split('action="', 1)[1].split('"', 1)[0])
        await _submit_form_post(http, form_post.replace(f"{a}{action.path}", f"{b}{action.path}"))
    async with http.get(setup) as page:
        body = await page.text()
    assert "Integration active" in body and "signed in as" in body, body[-2000:]
    assert await env.db.fetchone("SELECT 1 FROM admin_flows") is None  # used once
