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
    await context.close()
