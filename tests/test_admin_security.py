"""Who may enter the admin page and API, and what the page refuses."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from admin import auth
from store.models import AuthMode
from tests.plugins.browser import DAEMON_ADMIN, DAEMON_PASSWORD, AdminEnv, link_for_emulators
from worker.linkadmin import add_link

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_META = re.compile(r'<meta name="csrf-token" content="([^"]*)">')


@pytest.fixture
async def http(admin_env: AdminEnv) -> AsyncIterator[aiohttp.ClientSession]:
    jar = aiohttp.CookieJar(unsafe=True)  # cookies for 127.0.0.1
    async with aiohttp.ClientSession(admin_env.base_url, cookie_jar=jar) as session:
        yield session


async def _sign_in(http: aiohttp.ClientSession, user: str, password: str) -> aiohttp.ClientResponse:
    async with http.get("/login") as page:
        match = _CSRF.search(await page.text())
    assert match
    form = {"username": user, "password": password, "csrf_token": match.group(1), "next": "/links"}
    async with http.post("/login", data=form, allow_redirects=False) as response:
        await response.read()
        return response


async def _csrf(http: aiohttp.ClientSession) -> str:
    async with http.get("/links") as page:
        match = _META.search(await page.text())
    assert match
    return match.group(1)


def _apps(app: web.Application) -> list[web.Application]:
    """The application and every application mounted in it."""
    found = [app]
    for resource in app.router.resources():
        child = resource.get_info().get("app")
        if isinstance(child, web.Application):
            found += _apps(child)
    return found


def _routes(app: web.Application) -> list[tuple[str, str]]:
    """The application's own routes (a mounted application's are its own)."""
    routes = []
    for resource in app.router.resources():
        info = resource.get_info()
        if "app" in info:
            continue
        path = info.get("formatter") or info.get("path") or info.get("prefix") or ""
        routes += [(route.method, path) for route in resource if route.method != "HEAD"]
    return routes


def _guarded_routes(env: AdminEnv) -> list[tuple[str, str]]:
    """Every route of the applications behind the guard: private by where they live."""
    app = env.server.app
    assert app is not None
    guarded = [a for a in _apps(app) if auth.guard in a.middlewares]
    assert len(guarded) == 1
    link_id = str(env.link.id)
    return [
        (method, path.replace("{link_id}", link_id).replace("{token_id}", "x"))
        for method, path in _routes(guarded[0])
    ]


def test_only_graph_health_sign_in_and_the_microsoft_callbacks_are_public(
    admin_env: AdminEnv,
) -> None:
    """Outside the guarded application there are exactly these routes (/help is the
    troubleshooting guide)."""
    app = admin_env.server.app
    assert app is not None
    public = sorted(r for a in _apps(app) if auth.guard not in a.middlewares for r in _routes(a))
    assert public == [
        ("GET", "/auth/consent"),
        ("GET", "/auth/return"),
        ("GET", "/auth/token"),
        ("GET", "/healthz"),
        ("GET", "/help"),
        ("GET", "/login"),
        ("GET", "/metrics"),
        ("GET", "/readyz"),
        ("GET", "/static"),
        ("POST", "/auth/token"),
        ("POST", "/graph/lifecycle"),
        ("POST", "/graph/notifications"),
        ("POST", "/login"),
    ]


async def test_every_page_and_api_route_refuses_without_a_session(
    admin_env: AdminEnv, http: aiohttp.ClientSession
) -> None:
    """No cookie: API routes and state changes answer 401; pages redirect to the sign-in."""
    routes = _guarded_routes(admin_env)
    assert len(routes) > 30
    for method, path in routes:
        async with http.request(method, path, allow_redirects=False, json={}) as response:
            if method == "GET" and not path.startswith("/api/"):
                assert response.status == 303, (method, path)
                assert response.headers["Location"].startswith("/login?next="), path
            else:
                assert response.status == 401, (method, path, response.status)
    for public in ("/healthz", "/login"):
        async with http.get(public) as response:
            assert response.status == 200, public


async def test_session_cookie_is_httponly_strict_and_logout_ends_it(
    admin_env: AdminEnv, http: aiohttp.ClientSession
) -> None:
    """The session cookie is HttpOnly and SameSite=Strict; after sign-out it opens nothing."""
    response = await _sign_in(http, *admin_env.tenant_admin)
    assert response.status == 303
    cookie = response.cookies["m365sync_session"]
    assert cookie["httponly"] and cookie["samesite"] == "Strict"
    csrf = await _csrf(http)
    async with http.post("/logout", data={"csrf_token": csrf}, allow_redirects=False) as out:
        assert out.status == 303
    async with http.get("/api/links") as after:
        assert after.status == 401


async def test_state_changes_without_the_csrf_token_are_refused(
    admin_env: AdminEnv, http: aiohttp.ClientSession
) -> None:
    """A signed-in POST without (or with a wrong) CSRF token is 403 and changes nothing."""
    await _sign_in(http, *admin_env.tenant_admin)
    link_id = admin_env.link.id
    async with http.post(f"/links/{link_id}/settings", data={"ranges": "300-399"}) as form:
        assert form.status == 403
    async with http.put(f"/api/links/{link_id}/settings", json={"ranges": "300-399"}) as api:
        assert api.status == 403
    headers = {"X-CSRF-Token": "wrong"}
    async with http.put(
        f"/api/links/{link_id}/settings", json={"ranges": "300-399"}, headers=headers
    ) as wrong:
        assert wrong.status == 403
    headers = {"X-CSRF-Token": await _csrf(http)}
    async with http.put(
        f"/api/links/{link_id}/settings", json={"ranges": "300-399"}, headers=headers
    ) as ok:
        assert ok.status == 200
        assert (await ok.json())["ranges"] == "300-399"


async def test_tenant_admin_sees_only_their_link(
    admin_env: AdminEnv, http: aiohttp.ClientSession
) -> None:
    """A PBX tenant admin gets 404 for another link's pages and API, and no row for it."""
    env = admin_env
    other = await add_link(
        env.db,
        link_for_emulators(env.emus.info, name="fabrikam", mode=AuthMode.APPLICATION),
        pbx_password="another-secret",
    )
    from store.links import update_link

    await update_link(env.db, other.id, pbx_user="admin@fabrikam.example")
    await _sign_in(http, *env.tenant_admin)
    for path in (
        f"/links/{other.id}",
        f"/links/{other.id}/activity",
        f"/api/links/{other.id}/users",
    ):
        async with http.get(path) as response:
            assert response.status == 404, path
    async with http.get("/api/links") as listing:
        assert [lk["name"] for lk in (await listing.json())["links"]] == ["contoso"]
    async with http.get("/links") as page:
        assert "fabrikam" not in await page.text()
    headers = {"X-CSRF-Token": await _csrf(http)}
    async with http.post(f"/api/links/{other.id}/resync", headers=headers, json={}) as write:
        assert write.status == 404


async def test_daemon_admin_sees_every_link_and_may_add_one(
    admin_env: AdminEnv, http: aiohttp.ClientSession
) -> None:
    """The daemon administrator signs in with the stored hash and may add links."""
    assert (await _sign_in(http, DAEMON_ADMIN, DAEMON_PASSWORD)).status == 303
    headers = {"X-CSRF-Token": await _csrf(http)}
    info = admin_env.emus.info
    body = {
        "name": "second",
        "tenant_id": info["tenant_id"],
        "client_id": info["client_id"],
        "pbx_url": info["pbx_url"],
        "pbx_domain": info["pbx_domain"],
        "pbx_user": "admin@second.example",
        "pbx_password": "x",
        "settings": {"ranges": "not a range"},
    }
    async with http.post("/api/links", json=body, headers=headers) as refused:
        assert refused.status == 422
        assert (await refused.json())["field"] == "ranges"
    body["settings"] = {"ranges": "400-499"}
    async with http.post("/api/links", json=body, headers=headers) as created:
        assert created.status == 201
    async with http.get("/api/links") as listing:
        names = sorted(lk["name"] for lk in (await listing.json())["links"])
    assert names == ["contoso", "second"]


async def test_tenant_admin_may_not_add_links(
    admin_env: AdminEnv, http: aiohttp.ClientSession
) -> None:
    """Adding links is for the daemon administrator only."""
    await _sign_in(http, *admin_env.tenant_admin)
    headers = {"X-CSRF-Token": await _csrf(http)}
    async with http.post("/api/links", json={"name": "x"}, headers=headers) as response:
        assert response.status == 403


async def test_wrong_passwords_are_rate_limited_per_account(
    admin_env: AdminEnv, http: aiohttp.ClientSession
) -> None:
    """Five wrong passwords lock the account for a while, even for the right password."""
    user, password = admin_env.tenant_admin
    for _ in range(5):
        assert (await _sign_in(http, user, "wrong-password")).status == 401
    locked = await _sign_in(http, user, password)
    assert locked.status == 429
    assert int(locked.headers["Retry-After"]) > 0
    # Another account from the same address is not locked by these failures.
    assert (await _sign_in(http, DAEMON_ADMIN, DAEMON_PASSWORD)).status == 303


async def test_sign_in_rejects_a_wrong_pbx_password_checked_live(
    admin_env: AdminEnv, http: aiohttp.ClientSession
) -> None:
    """The tenant admin's password is checked against the PBX, not stored by the daemon."""
    user, _ = admin_env.tenant_admin
    response = await _sign_in(http, user, "not-the-pbx-password")
    assert response.status == 401
    assert "m365sync_session" not in response.cookies


async def test_api_token_works_without_csrf_and_is_stored_hashed(
    admin_env: AdminEnv, http: aiohttp.ClientSession
) -> None:
    """A token made in a daemon-admin session opens the API by Bearer; only its hash is kept."""
    await _sign_in(http, DAEMON_ADMIN, DAEMON_PASSWORD)
    headers = {"X-CSRF-Token": await _csrf(http)}
    async with http.post("/api/tokens", json={"name": "ci"}, headers=headers) as made:
        assert made.status == 201
        token = (await made.json())["token"]
    from store.admins import list_api_tokens

    stored = await list_api_tokens(admin_env.db)
    assert [t.name for t in stored] == ["ci"]
    assert token not in stored[0].token_hash
    async with aiohttp.ClientSession(admin_env.base_url) as bare:
        bearer = {"Authorization": f"Bearer {token}"}
        async with bare.put(
            f"/api/links/{admin_env.link.id}/settings", json={"ranges": "200-249"}, headers=bearer
        ) as ok:
            assert ok.status == 200
        bad = {"Authorization": "Bearer m365s_wrong"}
        async with bare.get("/api/links", headers=bad) as refused:
            assert refused.status == 401


async def test_session_cookie_is_secure_behind_an_https_public_url(admin_env: AdminEnv) -> None:
    """With an https public URL (TLS at a proxy) the session cookie carries Secure."""
    from dataclasses import replace

    from aiohttp.test_utils import TestClient, TestServer

    from cli.app import create_daemon_app

    settings = replace(admin_env.settings, public_url="https://sync.example.com")
    app = create_daemon_app(settings, db=admin_env.db)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        async with client.get("/login") as page:
            csrf = _CSRF.search(await page.text())
        assert csrf
        user, password = admin_env.tenant_admin
        form = {"username": user, "password": password, "csrf_token": csrf.group(1)}
        # The test client speaks plain HTTP, so send the login cookie by hand.
        headers = {"Cookie": f"m365sync_login={csrf.group(1)}"}
        async with client.post("/login", data=form, headers=headers, allow_redirects=False) as r:
            assert r.status == 303
            assert r.cookies["m365sync_session"]["secure"]
