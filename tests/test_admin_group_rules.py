"""The Settings page edits the group rules and "Sign in with Microsoft" (issue 17), shows the
rules' Entra group names from Graph, and the dry-run plan page names each user's rule."""

from __future__ import annotations

import json

import aiohttp

from admin.pages_settings import TEXTS, _text
from store.links import get_link
from tests.plugins.browser import AdminEnv
from tests.test_admin_pages import signed_in
from worker.linksettings import validated_settings

__all__ = ["signed_in"]  # the fixture, shared with the page tests


async def test_group_rules_saved_on_the_settings_page_with_group_names(
    admin_env: AdminEnv, signed_in: aiohttp.ClientSession
) -> None:
    env = admin_env
    env.emus.graph.identity.set_app_roles(
        env.emus.info["client_id"], ("User.Read.All", "GroupMember.Read.All")
    )
    directory = env.emus.graph.directory
    group_id = directory.groups.create({"displayName": "Support Team"})["id"]
    domain = env.emus.info["tenant_domain"]
    sue = directory.create_user(
        displayName="Sue Port",
        givenName="Sue",
        surname="Port",
        mail=f"sue@{domain}",
        userPrincipalName=f"sue@{domain}",
        accountEnabled=True,
        userType="Member",
    )
    directory.groups.add_member(group_id, sue["id"])
    csrf = signed_in.headers["X-CSRF-Token"]
    url = f"/links/{env.link.id}/settings"
    current = validated_settings((await get_link(env.db, env.link.id)).settings)
    # The form as the page sends it: every text field with its current value.
    base = {name: _text(current.get(name)) for name, _, _ in TEXTS}
    bad = [{"name": "Support", "group_id": group_id, "template": {"display_name": "x"}}]
    form = {**base, "csrf_token": csrf, "group_rules": json.dumps(bad)}
    async with signed_in.post(url, data=form) as page:
        assert page.status == 422
        assert 'id="err-group_rules"' in await page.text()

    rules = [{"name": "Support", "group_id": group_id, "ranges": "400-449", "hunt_group": "800"}]
    form = {
        **base,
        "csrf_token": csrf,
        "auto_create": "true",
        "ms_signin": "on",
        "group_rules": json.dumps(rules),
    }
    async with signed_in.post(url, data=form, allow_redirects=False) as page:
        assert page.status == 303, await page.text()
    saved = (await get_link(env.db, env.link.id)).settings
    assert saved["group_rules"][0]["ranges"] == "400-449" and saved["ms_signin"] == "on"

    async with signed_in.get(url) as page:
        body = await page.text()
    assert "Support: group &#x27;Support Team&#x27;" in body
    assert f"<code>{group_id}</code>, numbers 400-449, hunt group 800" in body

    async with signed_in.get(f"/links/{env.link.id}/plan") as page:
        plan = await page.text()
    assert f"sue@{domain}" in plan
    assert f"rule Support: member of group {group_id}" in plan
    assert "rule Support: hunt group holds the rule" in plan
