"""Settings: grouped with plain hints, "Settings saved." under the title, and the Scope
line with a group picker that searches Entra groups by name (Graph `$filter=startswith`
on the emulator), stores ids and shows names; without GroupMember.Read.All it says so."""

from __future__ import annotations

from typing import Any

from playwright.async_api import Page, expect

from store.links import get_link, update_link
from store.models import AuthMode
from tests.plugins.browser import ARTIFACTS, AdminEnv
from tests.test_browser_a11y import _signed_in_page
from worker.linkadmin import check_link


async def _active(env: AdminEnv, roles: tuple[str, ...]) -> None:
    identity = env.emus.graph.identity
    identity.set_app_roles(env.emus.info["client_id"], roles)
    identity.grant_admin_consent(env.emus.info["client_id"])
    await update_link(env.db, env.link.id, auth_mode=AuthMode.APPLICATION)
    assert (await check_link(env.db, env.link.id, env.settings)).state.value == "active"


def _groups(env: AdminEnv) -> dict[str, str]:
    groups = env.emus.graph.directory.groups
    made = {}
    for name in ("Sales", "Sales West", "Support"):
        made[name] = groups.create({"displayName": name, "mailNickname": name.replace(" ", "")})[
            "id"
        ]
    return made


async def _settings(page: Page, env: AdminEnv) -> None:
    await page.goto(f"{env.base_url}/links/{env.link.id}/settings")


async def test_group_picker_searches_by_name_stores_ids_and_shows_names(
    admin_env: AdminEnv, browser: Any
) -> None:
    env = admin_env
    await _active(env, ("User.Read.All", "GroupMember.Read.All"))
    ids = _groups(env)
    page = await _signed_in_page(env, browser)
    await _settings(page, env)
    for legend in ("Who gets an extension", "Numbering", "Leavers", "Safety", "Alerts"):
        await expect(page.locator("legend", has_text=legend)).to_be_visible()
    picker = page.locator("#group-picker")
    await expect(page.get_by_label("All accounts")).to_be_checked()
    await expect(picker).to_be_hidden()
    await page.get_by_label("Members of these groups").check()
    await expect(picker).to_be_visible()
    await page.get_by_label("Find a group by the start of its name").fill("sal")
    await page.get_by_role("button", name="Search").click()
    found = page.locator("#group-results")
    await expect(page.locator("#group-status")).to_have_text("2 group(s) found.")
    await expect(found).to_contain_text("Sales West")
    await expect(found).not_to_contain_text("Support")
    await found.get_by_role("button", name="Add Sales West").click()
    await page.screenshot(path=str(ARTIFACTS / "settings-group-picker.png"), full_page=True)
    await page.get_by_role("button", name="Save").click()
    saved = page.locator("h1 + .flash")
    await expect(saved).to_have_text("Settings saved.")

    settings = (await get_link(env.db, env.link.id)).settings
    assert settings["scope"] == "groups" and settings["group_ids"] == [ids["Sales West"]]
    # Shown by name after a reload, stored by id.
    await expect(page.locator("#group-chosen")).to_have_text("Sales West Remove")
    await page.get_by_role("button", name="Remove Sales West").click()
    await page.get_by_label("All accounts").check()
    await expect(picker).to_be_hidden()
    await page.get_by_role("button", name="Save").click()
    await expect(saved).to_have_text("Settings saved.")
    settings = (await get_link(env.db, env.link.id)).settings
    assert settings["scope"] == "all" and settings["group_ids"] == []
    await page.context.close()


async def test_group_search_without_the_permission_names_it(
    admin_env: AdminEnv, browser: Any
) -> None:
    env = admin_env
    await _active(env, ("User.Read.All",))
    _groups(env)
    page = await _signed_in_page(env, browser)
    await _settings(page, env)
    await page.get_by_label("Members of these groups").check()
    await page.get_by_label("Find a group by the start of its name").fill("Sales")
    await page.get_by_role("button", name="Search").click()
    await expect(page.locator("#group-status")).to_contain_text("GroupMember.Read.All")
    await expect(page.locator("#group-results li")).to_have_count(0)
    await page.context.close()
