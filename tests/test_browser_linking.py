"""In Debian's chromium: a conflict's way out (Link to / Re-enable, each asking first), the
users <-> extensions page, and the Disable Unmatched preview with an unticked row."""

from __future__ import annotations

from typing import Any

from playwright.async_api import Page, expect

from store.directory import get_bindings
from store.links import update_link
from store.models import AuthMode
from tests.plugins.browser import ARTIFACTS, AdminEnv
from worker.linkadmin import check_link

SIZES = ((1280, 800, "desktop"), (390, 844, "phone"))


async def _shots(page: Page, name: str) -> None:
    """The page at both sizes into test-artifacts/, and never a horizontal scroll at 1280."""
    for width, height, label in SIZES:
        await page.set_viewport_size({"width": width, "height": height})
        await page.screenshot(path=str(ARTIFACTS / f"{name}-{label}.png"), full_page=True)
    await page.set_viewport_size({"width": 1280, "height": 800})
    await _no_sideways_scroll(page)


async def _no_sideways_scroll(page: Page) -> None:
    wide = await page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert wide <= 0, f"{page.url} scrolls sideways by {wide} px at 1280 px"


async def _active(env: AdminEnv, browser: Any) -> Page:
    """Signed in as the tenant admin on an active link (application mode: the delegated
    walk is test_browser_manual's), after one resync."""
    env.emus.graph.identity.grant_admin_consent(env.emus.info["client_id"])
    await update_link(env.db, env.link.id, auth_mode=AuthMode.APPLICATION)
    assert (await check_link(env.db, env.link.id, env.settings)).state.value == "active"
    context = await browser.new_context(
        ignore_https_errors=True, viewport={"width": 1280, "height": 800}
    )
    page: Page = await context.new_page()
    await page.goto(f"{env.base_url}/links")
    await page.get_by_label("User name").fill(env.tenant_admin[0])
    await page.get_by_label("Password").fill(env.tenant_admin[1])
    await page.get_by_role("button", name="Sign in").click()
    await page.goto(f"{env.base_url}/links/{env.link.id}")
    await page.get_by_role("button", name="Resync now").click()
    await expect(page.get_by_text("Resync done")).to_be_visible()
    return page


async def test_popup_links_an_email_conflict_and_reenables_after_confirmation(
    admin_env: AdminEnv, browser: Any
) -> None:
    env = admin_env
    dan = env.user_ids["Dan"]
    page = await _active(env, browser)
    await page.get_by_role("button", name="Sync Users & Create Extensions").click()
    popup = page.locator("#sync-dialog")
    row = popup.locator("tr", has_text="dan.wu@")
    await expect(row.get_by_role("button", name="Link to 250")).to_be_visible()
    await expect(row.get_by_role("button", name="Link to 251")).to_be_visible()
    await _shots(page, "h14d-01-popup-link-to")

    await row.get_by_role("button", name="Link to 250").click()
    confirm = page.locator("#confirm-dialog")
    await expect(confirm).to_contain_text("Link Dan Wu to extension 250?")
    await _shots(page, "h14d-02-confirm-link")
    await confirm.get_by_role("button", name="Cancel").click()
    await expect(confirm).to_be_hidden()
    assert await get_bindings(env.db, env.link.id) == []

    await row.get_by_role("button", name="Link to 250").click()
    await confirm.get_by_role("button", name="Link to 250").click()
    await expect(row).to_contain_text("has extension 250")
    await expect(row.locator(".way-out-result")).to_have_text(
        "dan.wu@contoso.example is now linked to extension 250"
    )
    assert [(b.user_id, b.number) for b in await get_bindings(env.db, env.link.id)] == [
        (dan, "250")
    ]

    env.pbx.set_disabled(["250"], True)
    await page.keyboard.press("Escape")
    await page.get_by_role("button", name="Resync now").click()
    await expect(page.get_by_text("Resync done")).to_be_visible()
    await page.get_by_role("button", name="Sync Users & Create Extensions").click()
    await expect(row).to_contain_text("extension 250 is disabled")
    await row.get_by_role("button", name="Re-enable").click()
    await expect(confirm).to_contain_text("Re-enable extension 250 for Dan Wu?")
    await confirm.get_by_role("button", name="Re-enable").click()
    await expect(row.locator(".way-out-result")).to_have_text("extension 250 is enabled again")
    assert not env.pbx.shown_disabled("250")
    await page.context.close()


async def test_users_and_extensions_page_search_pages_and_link(
    admin_env: AdminEnv, browser: Any
) -> None:
    env = admin_env
    domain = env.emus.info["tenant_domain"]
    for number in ("270", "271"):
        env.pbx.add_extension(number, first_name="E", last_name="M", email=f"eve.moss@{domain}")
    page = await _active(env, browser)
    await page.get_by_role("link", name="Users and extensions").click()
    await expect(page.get_by_role("heading", name="Users and extensions")).to_be_visible()
    table = page.locator("#directory-table")
    await expect(table.locator("tbody tr")).to_have_count(len(env.user_ids))
    await expect(table.locator("tr", has_text="ann.lee@")).to_contain_text("Waiting for a number")
    await _shots(page, "h14d-03-directory-users")

    await page.get_by_label("Search").fill("eve")
    await page.get_by_role("button", name="Search").click()
    eve = table.locator("tr", has_text="eve.moss@")
    await expect(table.locator("tbody tr")).to_have_count(1)
    await expect(eve).to_contain_text("Email conflict")
    await eve.get_by_role("button", name="Link to 271").click()
    confirm = page.locator("#confirm-dialog")
    await expect(confirm).to_contain_text("Link Eve Moss to extension 271?")
    await confirm.get_by_role("button", name="Link to 271").click()
    await expect(
        page.get_by_text("eve.moss@contoso.example is now linked to extension 271")
    ).to_be_visible()
    await expect(eve).to_contain_text("Linked")
    await expect(eve).to_contain_text("linked")  # the last change, just recorded
    await expect(page.get_by_label("Search")).to_have_value("eve")
    await _shots(page, "h14d-04-directory-linked")

    await page.get_by_role("link", name="Extensions with no user").click()
    numbers = await table.locator("tbody tr td:first-child").all_inner_texts()
    assert numbers == ["270"], numbers  # searched "eve": only Eve's other extension is spare
    await page.get_by_label("Search").fill("")
    await page.get_by_role("button", name="Search").click()
    numbers = await table.locator("tbody tr td:first-child").all_inner_texts()
    assert numbers == ["200", "250", "251", "270"]
    await _shots(page, "h14d-05-directory-extensions")
    await page.context.close()


async def test_disable_unmatched_preview_untick_and_results(
    admin_env: AdminEnv, browser: Any
) -> None:
    env = admin_env
    domain = env.emus.info["tenant_domain"]
    env.pbx.add_extension("260", first_name="Front", last_name="Desk", email=f"desk@{domain}")
    page = await _active(env, browser)
    await page.get_by_role("button", name="Disable Unmatched Extensions").click()
    dialog = page.locator("#unmatched-dialog")
    preview = dialog.locator("#unmatched-table")
    old = preview.locator("tr", has_text="200")
    await expect(old).to_contain_text("Old Employee")
    await expect(old).to_contain_text(f"old.employee@{domain}")
    await expect(old).to_contain_text("never")
    await expect(dialog.locator("#unmatched-count")).to_have_text(
        "2 of 2 ticked; unticked extensions are left as they are."
    )
    await dialog.get_by_label("Disable extension 260").uncheck()
    await expect(dialog.locator("#unmatched-count")).to_contain_text("1 of 2 ticked")
    await _shots(page, "h14d-06-unmatched-preview")
    await dialog.get_by_role("button", name="Confirm: disable these extensions").click()
    results = dialog.locator("#unmatched-results")
    await expect(results.get_by_role("heading", name="Results")).to_be_focused()
    await expect(dialog.locator("#unmatched-summary")).to_have_text("1 disabled, 1 left out")
    await expect(results.locator("tr", has_text="260")).to_contain_text("left out")
    await expect(dialog.locator("#unmatched-table")).to_be_hidden()
    await _shots(page, "h14d-07-unmatched-results")
    assert env.pbx.shown_disabled("200") and not env.pbx.shown_disabled("260")
    await page.context.close()
