"""The Vodia manual's steps, end to end in Debian's chromium against both emulators."""

from __future__ import annotations

from typing import Any

from playwright.async_api import Page, expect

from tests.plugins.browser import ARTIFACTS, AdminEnv


async def _shot(page: Page, name: str) -> None:
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


async def _sign_in(page: Page, env: AdminEnv, user: str, password: str) -> None:
    await page.goto(f"{env.base_url}/links")
    await page.get_by_label("User name").fill(user)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Sign in").click()


async def test_setup_walks_admin_consent_oauth_token_and_save(
    admin_env: AdminEnv, browser: Any
) -> None:
    """Sign in as the tenant admin; Admin Consent, OAuth Token, green confirmation, Save."""
    env = admin_env
    context = await browser.new_context(ignore_https_errors=True)
    page = await context.new_page()
    await _sign_in(page, env, *env.tenant_admin)
    await expect(page.get_by_role("heading", name="Links")).to_be_visible()
    await expect(page.get_by_text("Setup Required").first).to_be_visible()
    await _shot(page, "01-links-setup-required")

    await page.goto(f"{env.base_url}/links/{env.link.id}/setup")
    await page.get_by_role("button", name="Admin Consent").click()
    await expect(page.locator("#consent-result")).to_have_text("Admin consent granted.")
    assert env.emus.graph.identity.has_consent(env.emus.info["client_id"])

    await page.get_by_role("button", name="OAuth Token").click()
    await expect(page.locator("#token-result")).to_contain_text("Integration active")
    await _shot(page, "02-setup-green-confirmation")
    # Not saved yet: the manual keeps retrieved tokens only on Save.
    from store.links import load_token_cache

    assert await load_token_cache(env.db, env.link.id) is None

    await page.get_by_role("button", name="Save").click()
    await expect(page.get_by_text("Saved. Integration active.")).to_be_visible()
    assert await load_token_cache(env.db, env.link.id) is not None
    await page.goto(f"{env.base_url}/links")
    await expect(page.locator(".badge.ok", has_text="Integration active")).to_be_visible()
    await _shot(page, "03-links-active")

    # "Token Expiration: click OAuth Token again. No data or settings will be lost."
    from worker.linkadmin import save_settings

    await save_settings(env.db, env.link.id, {**env.link.settings, "reserved": "250-259"})
    await page.goto(f"{env.base_url}/links/{env.link.id}/setup")
    await page.get_by_role("button", name="OAuth Token").click()
    await expect(page.locator("#token-result")).to_contain_text("Integration active")
    await page.get_by_role("button", name="Save").click()
    await expect(page.get_by_text("Saved. Integration active.")).to_be_visible()
    from store.links import get_link

    link = await get_link(env.db, env.link.id)
    assert link.settings["reserved"] == "250-259"
    assert link.settings["ranges"] == "200-299"
    await context.close()


async def _activate(page: Page, env: AdminEnv) -> None:
    await page.goto(f"{env.base_url}/links/{env.link.id}/setup")
    await page.get_by_role("button", name="Admin Consent").click()
    await page.get_by_role("button", name="OAuth Token").click()
    await expect(page.locator("#token-result")).to_contain_text("Integration active")
    await page.get_by_role("button", name="Save").click()
    await expect(page.get_by_text("Saved. Integration active.")).to_be_visible()


async def test_popup_conflicts_create_and_disable_unmatched(
    admin_env: AdminEnv, browser: Any
) -> None:
    """Popup: seeded email conflict and a number in use in red, duplicate warning, auto-assign,
    Create Extensions into the PBX; Disable Unmatched preview, confirm, results; a held disable
    approved. A `<script>` display name stays text."""
    env = admin_env
    context = await browser.new_context(ignore_https_errors=True)
    page = await context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: dialogs.append(d.message))
    await _sign_in(page, env, *env.tenant_admin)
    await _activate(page, env)

    await page.goto(f"{env.base_url}/links/{env.link.id}")
    await page.get_by_role("button", name="Resync now").click()
    await expect(page.get_by_text("Resync done")).to_be_visible()
    await page.get_by_role("link", name="Dry-run plan").first.click()
    await expect(page.locator("#plan-table")).to_contain_text("Nothing to do")
    await page.get_by_role("link", name="Plan a full comparison").click()
    await expect(page.locator("#plan-table")).to_contain_text("dan.wu@")
    await _shot(page, "10-dry-run-plan")
    await page.goto(f"{env.base_url}/links/{env.link.id}")

    await page.get_by_role("button", name="Sync Users & Create Extensions").click()
    popup = page.locator("#sync-dialog")
    await expect(popup).to_be_visible()
    dan = popup.locator("tr", has_text="dan.wu@")
    await expect(dan.locator("td.conflict")).to_contain_text("already on extension 250")
    await expect(popup.get_by_text("<script>alert('x')</script> Mallory")).to_be_visible()

    await popup.get_by_label("Extension number for Ann Lee").fill("200")
    ann = popup.locator("tr", has_text="ann.lee@")
    await expect(ann.locator("td.conflict")).to_contain_text("200 is already in use")
    await expect(ann.locator("td.conflict")).to_contain_text("suggested: 201")
    await popup.get_by_label("Extension number for Bob Stone").fill("205")
    await popup.get_by_label("Extension number for Cara Diaz").fill("205")
    bob = popup.locator("tr", has_text="bob.stone@")
    await expect(bob.locator("td.conflict")).to_contain_text("chosen for more than one user")
    await expect(page.locator("#sync-summary")).to_contain_text("3 selected · 3 with conflicts")
    await _shot(page, "04-popup-conflicts")

    await popup.get_by_role("button", name="Auto-assign").click()
    await expect(popup.get_by_label("Extension number for Ann Lee")).to_have_value("201")
    await expect(popup.get_by_label("Extension number for Bob Stone")).to_have_value("202")
    await expect(popup.get_by_label("Extension number for Cara Diaz")).to_have_value("203")
    await expect(page.locator("#sync-summary")).to_have_text("3 selected")
    await popup.get_by_role("button", name="Create Extensions").click()
    outcomes = popup.locator("#sync-outcomes li")
    await expect(outcomes).to_have_count(3)
    await expect(outcomes.filter(has_text="created")).to_have_count(3)
    await _shot(page, "05-popup-created")
    for number, email in (("201", "ann.lee@"), ("202", "bob.stone@"), ("203", "cara.diaz@")):
        account = env.pbx.get(number)
        assert account is not None, number
        assert str(account.settings["email_address"]).startswith(email)
    # Keyboard and search: type in the search box, Space selects, Escape closes.
    await popup.get_by_label("Search users").fill("moss")
    await expect(popup.locator("#sync-table tbody tr")).to_have_count(1)
    await popup.get_by_label("Select Eve Moss").focus()
    await page.keyboard.press("Space")
    await expect(page.locator("#sync-summary")).to_have_text("1 selected")
    await page.keyboard.press("Escape")
    await expect(popup).to_be_hidden()

    await page.get_by_role("button", name="Disable Unmatched Extensions").click()
    unmatched = page.locator("#unmatched-dialog")
    await expect(unmatched.locator("#unmatched-table")).to_contain_text("old.employee@")
    await _shot(page, "06-unmatched-preview")
    await unmatched.get_by_role("button", name="Confirm: disable these extensions").click()
    await expect(unmatched.locator("#unmatched-results-table")).to_contain_text("disabled")
    assert env.pbx.get("200").settings["disabled"] in (True, "true")
    await unmatched.get_by_role("button", name="Close").click()
    await _held_disable_approved(page, env)
    assert not dialogs, "markup from the directory ran as script"
    await context.close()


async def _held_disable_approved(page: Page, env: AdminEnv) -> None:
    domain = env.emus.info["tenant_domain"]
    for number in ("260", "261"):
        env.pbx.add_extension(
            number, first_name="Gone", last_name=number, email=f"x{number}@{domain}"
        )
    await page.goto(f"{env.base_url}/links/{env.link.id}/settings")
    await page.get_by_label("Disable threshold (extensions)").fill("many")
    await page.get_by_role("button", name="Save").click()
    await expect(page.locator("#err-disable_threshold_count")).to_contain_text("whole number")
    await page.get_by_label("Disable threshold (extensions)").fill("1")
    await page.get_by_label("Disable threshold (percent)").fill("0")
    await page.get_by_role("button", name="Save").click()
    await expect(page.get_by_text("Settings saved.")).to_be_visible()
    await _shot(page, "09-settings")

    await page.goto(f"{env.base_url}/links/{env.link.id}")
    await page.get_by_role("button", name="Disable Unmatched Extensions").click()
    unmatched = page.locator("#unmatched-dialog")
    await expect(unmatched.locator("#unmatched-table")).to_contain_text("held (over the disable")
    await unmatched.get_by_role("button", name="Confirm: disable these extensions").click()
    await expect(unmatched.locator("#unmatched-results")).to_contain_text("2 held for approval")
    await page.reload()
    held = page.locator("#held-table tbody tr")
    await expect(held).to_have_count(2)
    await held.filter(has_text="260").get_by_role("checkbox").check()
    await _shot(page, "07-held-actions")
    await page.get_by_role("button", name="Approve selected").click()
    await expect(page.get_by_text("Approved: 1 done, 0 failed.")).to_be_visible()
    assert env.pbx.get("260").settings["disabled"] in (True, "true")
    assert env.pbx.get("261").settings["disabled"] in (False, "false")
    await expect(page.locator("#held-table tbody tr")).to_have_count(1)
    await page.goto(f"{env.base_url}/links/{env.link.id}/activity?action=disable")
    await expect(page.locator("#activity-table")).to_contain_text("260")
    await _shot(page, "08-activity")
