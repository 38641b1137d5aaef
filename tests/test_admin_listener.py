"""M365SYNC_ADMIN_LISTEN on loopback: the real daemon application on two real ports.

The public listener answers only Graph, the OAuth callbacks and /healthz; every other
route the routers know answers 404 there. The private one answers everything but the
Graph endpoints. An Admin Consent started on the private listener comes back through the
public callback and lands on the private Setup page with the session intact."""

from __future__ import annotations

import re
import socket
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from admin.passwords import hash_password
from cli.app import PUBLIC_ROUTES, create_daemon_app
from cli.serving import start_listeners
from emulators.harness import RunningEmulators, running_emulators
from store import Database, SecretBox, generate_key
from store.admins import set_admin_account
from store.models import Link
from tests.plugins.browser import DAEMON_ADMIN, DAEMON_PASSWORD, link_for_emulators
from webhook.routes import GRAPH_PATHS
from worker.linkadmin import add_link
from worker.settings import Settings

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_META = re.compile(r'<meta name="csrf-token" content="([^"]*)">')
_REFRESH = re.compile(r'<meta http-equiv="refresh" content="0;url=([^"]+)">')


@dataclass
class Split:
    emus: RunningEmulators
    db: Database
    app: web.Application
    link: Link
    public: str  # base URLs
    private: str


def _free_port() -> int:
    # The public URL (the OAuth redirect URIs) must name the public port before it is bound.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
async def split(tmp_path: Path) -> AsyncIterator[Split]:
    async with running_emulators(tmp_path / "emulators") as emus:
        emus.graph.identity.revoke_admin_consent(emus.info["client_id"])
        db = await Database.open(tmp_path / "m365sync.db", SecretBox([generate_key().encode()]))
        port = _free_port()
        settings = Settings(
            data_dir=tmp_path,
            database=tmp_path / "m365sync.db",
            listen_port=port,
            public_url=f"http://127.0.0.1:{port}",
            admin_listen=("127.0.0.1", 0),
        )
        app = create_daemon_app(settings, db=db)
        runner = web.AppRunner(app)
        await runner.setup()
        try:
            bound = await start_listeners(runner, settings, None)
            link = await add_link(
                db,
                link_for_emulators(emus.info),
                pbx_password=emus.info["pbx_tenant_admin_password"],
                client_secret=emus.info["client_secret"],
            )
            await set_admin_account(db, DAEMON_ADMIN, hash_password(DAEMON_PASSWORD, n=2**12))
            yield Split(
                emus,
                db,
                app,
                link,
                public="http://{}:{}".format(*bound.public[0]),
                private="http://{}:{}".format(*bound.private[0]),
            )
        finally:
            await runner.cleanup()
            await db.close()


def _apps(app: web.Application) -> list[web.Application]:
    found = [app]
    for resource in app.router.resources():
        child = resource.get_info().get("app")
        if isinstance(child, web.Application):
            found += _apps(child)
    return found


def _every_route(split: Split) -> list[tuple[str, str, str]]:
    """(method, canonical, a concrete path) for every route of every application."""
    routes = []
    for app in _apps(split.app):
        for resource in app.router.resources():
            if "app" in resource.get_info():
                continue
            canonical = resource.canonical
            path = (
                "/static/admin.css"
                if canonical == "/static"
                else canonical.replace("{link_id}", str(split.link.id)).replace("{token_id}", "1")
            )
            routes += [(route.method, canonical, path) for route in resource]
    return routes


async def test_public_listener_serves_only_graph_oauth_and_healthz(split: Split) -> None:
    routes = _every_route(split)
    canonicals = {c for _, c, _ in routes}
    # The enumeration reaches every application: the webhook's, sign-in's and the console's.
    assert {"/links", "/api/links", "/api/tokens", "/login", "/metrics", "/readyz"} <= canonicals
    assert canonicals >= PUBLIC_ROUTES
    assert len(routes) > 60
    refused = 0
    async with aiohttp.ClientSession() as http:
        for method, canonical, path in routes:
            async with http.request(
                method, split.public + path, allow_redirects=False, json={}
            ) as response:
                if canonical in PUBLIC_ROUTES:
                    assert response.status != 404, (method, path)
                else:
                    assert response.status == 404, (method, path, response.status)
                    refused += 1
        # A path only told apart by its spelling is still the same route.
        async with http.get(split.public + "/%6Cinks", allow_redirects=False) as encoded:
            assert encoded.status == 404
        async with http.get(split.public + "/healthz") as health:
            assert health.status == 200
    assert refused > 50


async def test_private_listener_serves_all_but_the_graph_endpoints(split: Split) -> None:
    async with aiohttp.ClientSession() as http:
        for method, canonical, path in _every_route(split):
            async with http.request(
                method, split.private + path, allow_redirects=False, json={}
            ) as response:
                if canonical in GRAPH_PATHS:
                    assert response.status == 404, (method, path)
                else:
                    assert response.status != 404, (method, path, response.status)
        for path in ("/readyz", "/metrics", "/healthz", "/login"):
            async with http.get(split.private + path) as response:
                assert response.status == 200, path
        # The validation handshake Graph runs: refused here, answered on the public side.
        handshake = "/graph/notifications?validationToken=hello"
        async with http.post(split.private + handshake) as private:
            assert private.status == 404
        async with http.post(split.public + handshake) as public:
            assert public.status == 200
            assert await public.text() == "hello"


async def test_admin_consent_returns_through_the_public_callback_to_the_private_page(
    split: Split,
) -> None:
    """Microsoft sends the browser to {public}/auth/consent; the callback's page leads back
    to the private listener, where the Setup page shows the result in the same session."""
    context = ssl.create_default_context(cafile=split.emus.info["ca_path"])
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(
        cookie_jar=jar, connector=aiohttp.TCPConnector(ssl=context)
    ) as http:
        async with http.get(split.private + "/login") as page:
            match = _CSRF.search(await page.text())
        assert match
        user, password = (
            split.emus.info["pbx_tenant_admin"],
            split.emus.info["pbx_tenant_admin_password"],
        )
        form = {"username": user, "password": password, "csrf_token": match.group(1)}
        async with http.post(split.private + "/login", data=form) as signed_in:
            assert signed_in.status == 200
        async with http.get(split.private + "/links") as links:
            meta = _META.search(await links.text())
        assert meta
        setup = f"/links/{split.link.id}/setup"
        async with http.post(
            f"{split.private}{setup}/consent", data={"csrf_token": meta.group(1)}
        ) as callback:
            # The redirects went through Microsoft to the public listener's callback.
            assert str(callback.url).startswith(split.public + "/auth/consent?")
            target = _REFRESH.search(await callback.text())
        assert target
        assert target.group(1) == f"{split.private}/auth/return?to={setup}"
        async with http.get(target.group(1)) as back:
            onward = _REFRESH.search(await back.text())
        assert onward and onward.group(1) == setup
        async with http.get(split.private + setup) as page:
            body = await page.text()
        assert page.status == 200
        assert "consent-result" in body
        assert split.emus.graph.identity.has_consent(split.emus.info["client_id"])


async def test_return_page_only_leads_to_our_own_setup_page(split: Split) -> None:
    async with aiohttp.ClientSession() as http:
        for to in ("https://evil.example/", "//evil.example/links", "/links/1/setup/../x"):
            async with http.get(split.private + "/auth/return", params={"to": to}) as back:
                onward = _REFRESH.search(await back.text())
            assert onward and onward.group(1) == "/links", to


async def test_one_listener_serves_everything_when_admin_listen_is_unset(
    aiohttp_client: object, db: Database
) -> None:
    from aiohttp.test_utils import TestClient

    assert callable(aiohttp_client)
    client: TestClient[web.Request, web.Application] = await aiohttp_client(
        create_daemon_app(Settings(), db=db)
    )
    for path in ("/login", "/readyz", "/metrics", "/healthz"):
        assert (await client.get(path)).status == 200, path
    assert (await client.get("/links", allow_redirects=False)).status == 303
