"""Save on Setup changes only what the form sent: a post without the sign-in mode radios
keeps the stored mode, without the scope radios keeps the scope and Automatic Extension
Creation (a hand-made post, or a page from before the radios existed)."""

from __future__ import annotations

import aiohttp

from store.links import get_link, update_link
from store.models import AuthMode
from tests.plugins.browser import AdminEnv
from tests.test_admin_security import _csrf, _sign_in
from tests.test_admin_setup import http  # noqa: F401 - the fixture
from worker.linkadmin import save_settings


async def test_a_save_without_the_mode_keeps_the_stored_mode(
    admin_env: AdminEnv,
    http: aiohttp.ClientSession,  # noqa: F811 - the fixture imported above
) -> None:
    env = admin_env
    env.emus.graph.identity.grant_admin_consent(env.emus.info["client_id"])
    await update_link(env.db, env.link.id, auth_mode=AuthMode.APPLICATION)
    await save_settings(env.db, env.link.id, {**env.link.settings, "auto_create": True})
    await _sign_in(http, *env.tenant_admin)
    save = {"csrf_token": await _csrf(http)}
    async with http.post(f"/links/{env.link.id}/setup/save", data=save) as saved:
        assert "Saved. Integration active." in await saved.text()
    link = await get_link(env.db, env.link.id)
    assert link.auth_mode is AuthMode.APPLICATION
    assert link.settings["auto_create"] is True
    assert link.settings.get("scope", "all") == "all"
