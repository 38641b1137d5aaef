"""Setup keeps the manual's mode across the Admin Consent and OAuth Token redirects, never
drops a retrieved token silently, offers Automatic Extension Creation before Save (turning it
on queues a catch-up at once), and records what the admin did in the audit trail without
secrets. Debian's chromium against both emulators."""

from __future__ import annotations

import json
from typing import Any

from playwright.async_api import Page, expect

from store.events import has_unfinished_event
from store.links import get_link, load_token_cache, update_link
from store.models import AuthMode, EventKind
from store.records import list_audit
from tests.plugins.browser import ARTIFACTS, AdminEnv


async def _sign_in(page: Page, env: AdminEnv) -> None:
    user, password = env.tenant_admin
    await page.goto(f"{env.base_url}/links")
    await page.get_by_label("User name").fill(user)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", name="Links")).to_be_visible()


def _delegated(page: Page) -> Any:
    return page.get_by_label("Admin Consent + OAuth Token (as in the Vodia manual)")


async def test_delegated_mode_survives_both_redirects_and_save_keeps_the_token(
    admin_env: AdminEnv, browser: Any
) -> None:
    env = admin_env
    # Stored mode is application: only the admin's choice on the page says "delegated".
    await update_link(env.db, env.link.id, auth_mode=AuthMode.APPLICATION)
    context = await browser.new_context(ignore_https_errors=True)
    page = await context.new_page()
    await _sign_in(page, env)
    await page.goto(f"{env.base_url}/links/{env.link.id}/setup")
    await _delegated(page).check()
    await page.get_by_label("Automatic Extension Creation").check()
    await page.get_by_role("button", name="Admin Consent").click()
    await expect(page.locator("#consent-result")).to_have_text("Admin consent granted.")
    await expect(_delegated(page)).to_be_checked()
    await expect(page.get_by_label("Automatic Extension Creation")).to_be_checked()
    await page.get_by_role("button", name="OAuth Token").click()
    await expect(page.locator("#token-result")).to_contain_text("Integration active")
    await expect(_delegated(page)).to_be_checked()
    await page.screenshot(path=str(ARTIFACTS / "setup-mode-kept.png"), full_page=True)
    await page.get_by_role("button", name="Save", exact=True).click()
    await expect(page.get_by_text("Saved. Integration active.")).to_be_visible()
    await expect(page.get_by_text("the users waiting for an extension get one now")).to_be_visible()

    link = await get_link(env.db, env.link.id)
    assert link.auth_mode is AuthMode.DELEGATED
    assert await load_token_cache(env.db, env.link.id) is not None
    assert link.settings["auto_create"] is True
    assert await has_unfinished_event(env.db, env.link.id, EventKind.SWEEP)

    audit = await list_audit(env.db, env.link.id)
    actions = {e.action: e for e in audit}
    assert actions["sign-in mode changed"].after == {"auth_mode": "Admin Consent + OAuth Token"}
    assert actions["sign-in mode changed"].actor == env.tenant_admin[0]
    saved = actions["setup saved"]
    assert saved.before["auto_create"] is False and saved.after["auto_create"] is True
    await context.close()


async def test_save_in_application_mode_asks_before_discarding_a_token(
    admin_env: AdminEnv, browser: Any
) -> None:
    env = admin_env
    context = await browser.new_context(ignore_https_errors=True)
    page = await context.new_page()
    await _sign_in(page, env)
    await page.goto(f"{env.base_url}/links/{env.link.id}/setup")
    await page.get_by_role("button", name="Admin Consent").click()
    await page.get_by_role("button", name="OAuth Token").click()
    await expect(page.locator("#token-result")).to_contain_text("Integration active")
    await page.get_by_label("Application permissions (client credentials)", exact=False).check()
    await page.get_by_role("button", name="Save", exact=True).click()
    question = page.locator("#token-question")
    await expect(question).to_contain_text("discards the token")
    assert (await get_link(env.db, env.link.id)).auth_mode is AuthMode.DELEGATED
    assert await load_token_cache(env.db, env.link.id) is None
    await page.screenshot(path=str(ARTIFACTS / "setup-token-question.png"), full_page=True)
    await question.get_by_role("button", name="keep the token").click()
    await expect(page.get_by_text("Saved. Integration active.")).to_be_visible()
    assert (await get_link(env.db, env.link.id)).auth_mode is AuthMode.DELEGATED
    assert await load_token_cache(env.db, env.link.id) is not None
    await context.close()


async def test_audit_trail_holds_no_secret(admin_env: AdminEnv, browser: Any) -> None:
    env = admin_env
    context = await browser.new_context(ignore_https_errors=True)
    page = await context.new_page()
    await _sign_in(page, env)
    await page.goto(f"{env.base_url}/links/{env.link.id}/setup")
    await page.get_by_label("Client secret").fill(env.emus.info["client_secret"])
    await page.get_by_role("button", name="Admin Consent").click()
    await page.get_by_role("button", name="OAuth Token").click()
    await expect(page.locator("#token-result")).to_contain_text("Integration active")
    await page.get_by_label("Client secret").fill(env.emus.info["client_secret"])
    await page.get_by_role("button", name="Save", exact=True).click()
    await expect(page.get_by_text("Saved. Integration active.")).to_be_visible()
    cache = await load_token_cache(env.db, env.link.id) or ""
    tokens = [v for k, v in json.loads(cache).items() if k in ("AccessToken", "RefreshToken")]
    secrets = [env.emus.info["client_secret"], *env.tenant_admin[1:]]
    for group in tokens:
        secrets.extend(str(t["secret"]) for t in group.values())
    rows = await env.db.fetchall("SELECT * FROM audit")
    assert rows, "nothing recorded"
    dump = json.dumps([dict(r) for r in rows])
    saved = [e for e in await list_audit(env.db, env.link.id) if e.action == "setup saved"]
    # A new secret reads "(replaced)": that it changed, never what it is.
    assert saved and saved[0].after["client_secret"] == "(replaced)"
    for secret in secrets:
        assert len(secret) >= 8 and secret not in dump
    await context.close()
