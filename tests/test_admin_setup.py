"""The Setup page's round trips to the identity platform, driven over HTTP without a browser."""

from __future__ import annotations

import re
import ssl
from collections.abc import AsyncIterator

import aiohttp
import pytest

from store.links import get_link, load_token_cache
from tests.plugins.browser import DAEMON_ADMIN, DAEMON_PASSWORD, AdminEnv
from tests.test_admin_security import _csrf, _sign_in


@pytest.fixture
async def http(admin_env: AdminEnv) -> AsyncIterator[aiohttp.ClientSession]:
    """A client that trusts the emulator's CA, so it can follow redirects to Microsoft."""
    context = ssl.create_default_context(cafile=admin_env.emus.info["ca_path"])
    jar = aiohttp.CookieJar(unsafe=True)
    connector = aiohttp.TCPConnector(ssl=context)
    async with aiohttp.ClientSession(
        admin_env.base_url, cookie_jar=jar, connector=connector
    ) as session:
        yield session


async def _submit_form_post(http: aiohttp.ClientSession, page: str) -> str:
    """What a browser does with Microsoft's form_post answer: submit the hidden form."""
    action = re.search(r'<form method="POST" action="([^"]+)"', page)
    assert action, page[:300]
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page))
    async with http.post(action.group(1), data=fields) as response:
        return await response.text()


async def _setup_page(http: aiohttp.ClientSession, env: AdminEnv) -> str:
    async with http.get(f"/links/{env.link.id}/setup") as page:
        return await page.text()


async def test_declined_admin_consent_is_shown_on_the_setup_page(
    admin_env: AdminEnv, http: aiohttp.ClientSession
) -> None:
    """When the administrator declines, the page says consent was not granted."""
    env = admin_env
    env.emus.graph.identity.set_decline_consent(True)
    await _sign_in(http, *env.tenant_admin)
    form = {"csrf_token": await _csrf(http)}
    async with http.post(f"/links/{env.link.id}/setup/consent", data=form) as bounce:
        assert bounce.status == 200
    body = await _setup_page(http, env)
    assert "Admin consent was not granted" in body
    assert not env.emus.graph.identity.has_consent(env.emus.info["client_id"])


async def test_callbacks_with_an_unknown_state_change_nothing(
    admin_env: AdminEnv, http: aiohttp.ClientSession
) -> None:
    """A forged or replayed callback finds no flow: no consent result, no tokens."""
    env = admin_env
    await _sign_in(http, *env.tenant_admin)
    async with http.get("/auth/consent?admin_consent=True&state=forged") as consent:
        assert "expired" in await consent.text()
    async with http.post("/auth/token", data={"code": "x", "state": "forged"}) as token:
        assert "expired" in await token.text()
    body = await _setup_page(http, env)
    assert "consent-result" not in body and "token-result" not in body
    assert await load_token_cache(env.db, env.link.id) is None


async def test_oauth_token_without_admin_consent_is_refused_and_not_saved(
    admin_env: AdminEnv, http: aiohttp.ClientSession
) -> None:
    """Skipping Admin Consent: OAuth Token reports the failure and Save keeps Setup Required."""
    env = admin_env
    await _sign_in(http, *env.tenant_admin)
    form = {"csrf_token": await _csrf(http)}
    async with http.post(f"/links/{env.link.id}/setup/token", data=form) as microsoft:
        await _submit_form_post(http, await microsoft.text())
    assert "OAuth Token failed" in await _setup_page(http, env)
    save = {"csrf_token": form["csrf_token"], "scope": "all", "auth_mode": "delegated"}
    async with http.post(f"/links/{env.link.id}/setup/save", data=save) as saved:
        assert "Setup Required" in await saved.text()
    assert await load_token_cache(env.db, env.link.id) is None
    assert (await get_link(env.db, env.link.id)).state.value == "setup_required"


async def test_application_mode_is_the_alternative_to_oauth_token(
    admin_env: AdminEnv, http: aiohttp.ClientSession
) -> None:
    """Admin Consent then Save in application mode activates the link without OAuth Token."""
    env = admin_env
    await _sign_in(http, *env.tenant_admin)
    csrf = await _csrf(http)
    async with http.post(f"/links/{env.link.id}/setup/consent", data={"csrf_token": csrf}):
        pass
    save = {"csrf_token": csrf, "scope": "all", "auth_mode": "application"}
    async with http.post(f"/links/{env.link.id}/setup/save", data=save) as saved:
        assert "Saved. Integration active." in await saved.text()
    link = await get_link(env.db, env.link.id)
    assert (link.auth_mode.value, link.state.value) == ("application", "active")


async def test_scope_groups_without_ids_is_refused_next_to_the_field(
    admin_env: AdminEnv, http: aiohttp.ClientSession
) -> None:
    """Scope 'groups' with no group id shows the error by the Group IDs field."""
    env = admin_env
    await _sign_in(http, *env.tenant_admin)
    save = {"csrf_token": await _csrf(http), "scope": "groups", "group_ids": ""}
    async with http.post(f"/links/{env.link.id}/setup/save", data=save) as page:
        assert page.status == 422
        assert 'id="err-group_ids"' in await page.text()


async def test_daemon_admin_adds_a_link_from_the_links_page(
    admin_env: AdminEnv, http: aiohttp.ClientSession
) -> None:
    """The add-link form creates a link in Setup Required and opens its Setup page."""
    env = admin_env
    info = env.emus.info
    await _sign_in(http, DAEMON_ADMIN, DAEMON_PASSWORD)
    form = {
        "csrf_token": await _csrf(http),
        "name": "fabrikam",
        "tenant_id": info["tenant_id"],
        "client_id": info["client_id"],
        "client_secret": info["client_secret"],
        "pbx_url": info["pbx_url"],
        "pbx_domain": info["pbx_domain"],
        "pbx_user": "admin@fabrikam.example",
        "pbx_password": "pw",
        "auth_mode": "delegated",
    }
    async with http.post("/links", data=form) as page:
        body = await page.text()
        assert page.url.path.endswith("/setup")
    assert "Setup · fabrikam" in body and "Setup Required" in body
