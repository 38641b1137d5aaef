"""The link page's Check button: the doctor's list with ✓/✗ and fixes, behind sign-in and
CSRF, and read-only (the PBX and Graph emulators see no write, the link keeps its state)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import aiohttp
import pytest

from store.links import get_link, update_link
from store.models import AuthMode
from tests.plugins.browser import AdminEnv
from tests.test_admin_security import _CSRF, _sign_in
from worker.linkadmin import check_link

_ITEM = re.compile(r'<li class="(ok|bad)" data-check="([a-z_]+)">')


@pytest.fixture
async def session(admin_env: AdminEnv) -> AsyncIterator[aiohttp.ClientSession]:
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(admin_env.base_url, cookie_jar=jar) as http:
        assert (await _sign_in(http, *admin_env.tenant_admin)).status == 303
        yield http


async def _page_csrf(http: aiohttp.ClientSession, link_id: int) -> str:
    async with http.get(f"/links/{link_id}") as page:
        text = await page.text()
    assert 'id="run-doctor"' in text and f'action="/links/{link_id}/doctor"' in text
    match = _CSRF.search(text)
    assert match
    return match.group(1)


async def test_check_button_lists_failures_with_fixes_and_changes_nothing(
    admin_env: AdminEnv, session: aiohttp.ClientSession
) -> None:
    """The manual's starting point (no consent, no OAuth Token): the list says what to do."""
    env = admin_env
    csrf = await _page_csrf(session, env.link.id)
    pbx_before = dict(env.pbx.requests_by_method)
    graph_before = env.emus.graph.api_requests_by_method
    async with session.post(f"/links/{env.link.id}/doctor", data={"csrf_token": csrf}) as reply:
        assert reply.status == 200
        text = await reply.text()
    items = dict((check, state) for state, check in _ITEM.findall(text))
    assert items["token"] == "bad"
    assert items["pbx_credentials"] == "ok" and items["pbx_range"] == "ok"
    assert items["setup_required"] == "bad"
    assert "Fix: Click &quot;OAuth Token&quot; again" in text
    assert "✓" in text and "✗" in text
    assert f'action="/links/{env.link.id}/check"' in text  # Activate, once fixed
    assert {m for m, n in env.pbx.requests_by_method.items() if n != pbx_before.get(m, 0)} <= {
        "GET"
    }
    assert env.emus.graph.api_requests_by_method.get("POST", 0) == graph_before.get("POST", 0)
    after = await get_link(env.db, env.link.id)
    assert (after.state, after.state_reason) == (env.link.state, env.link.state_reason)


async def test_check_button_shows_passes_on_a_working_link(
    admin_env: AdminEnv, session: aiohttp.ClientSession
) -> None:
    env = admin_env
    env.emus.graph.identity.grant_admin_consent(env.emus.info["client_id"])
    await update_link(env.db, env.link.id, auth_mode=AuthMode.APPLICATION)
    assert (await check_link(env.db, env.link.id, env.settings)).state.value == "active"
    csrf = await _page_csrf(session, env.link.id)
    async with session.post(f"/links/{env.link.id}/doctor", data={"csrf_token": csrf}) as reply:
        text = await reply.text()
    items = dict((check, state) for state, check in _ITEM.findall(text))
    for passing in ("tenant_id", "token", "permissions", "graph", "graph_users", "pbx_range"):
        assert items[passing] == "ok", passing
    assert items["setup_required"] == "ok"
    assert items["public_url_https"] == "bad"  # this test app has no public URL
    assert 'id="activate"' not in text


async def test_check_needs_csrf(admin_env: AdminEnv, session: aiohttp.ClientSession) -> None:
    url = f"/links/{admin_env.link.id}/doctor"
    async with session.post(url, data={}) as refused:
        assert refused.status == 403
    csrf = await _page_csrf(session, admin_env.link.id)
    async with session.post(url, data={"csrf_token": csrf}) as accepted:
        assert accepted.status == 200
        assert 'id="doctor-results"' in await accepted.text()
