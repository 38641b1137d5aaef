"""The demo's banner, walked as printed: the Vodia manual end to end in the delegated mode
(Admin Consent -> OAuth Token -> green "Integration active" -> Save -> Sync Users & Create
Extensions with each conflict -> Select all, Auto-assign, Create Extensions -> Disable
Unmatched Extensions -> the audit trail), in Debian's chromium against both emulators seeded
by `seed_demo`, with the demo's policy. Each step is screenshotted at 1280x800 and 390x844."""

from __future__ import annotations

import re
from typing import Any

from playwright.async_api import Page, expect

from cli.commands.demo import DEMO_POLICY, DEMO_STEPS
from store.links import get_link, load_token_cache, update_link
from store.models import AuthMode, LinkState
from store.records import list_audit
from tests.plugins.browser import ARTIFACTS, AdminEnv
from worker import operations
from worker.linkadmin import check_link, save_settings
from worker.linkctx import open_link_clients

SIZES = ((1280, 800), (390, 844))


def _said(text: str) -> str:
    """`text` is in the banner as printed (line breaks and indentation aside)."""
    flat = " ".join(DEMO_STEPS.split())
    assert text in flat, f"the demo's banner no longer says {text!r}"
    return text


async def _shots(page: Page, name: str) -> None:
    for width, height in SIZES:
        await page.set_viewport_size({"width": width, "height": height})
        await page.screenshot(path=str(ARTIFACTS / f"demo-{name}-{width}.png"), full_page=True)
    await page.set_viewport_size({"width": SIZES[0][0], "height": SIZES[0][1]})


async def _as_the_demo_starts(env: AdminEnv) -> None:
    """The demo's link: its policy, application permissions, active, and the sweep its
    worker runs at start (this fixture's app has no worker)."""
    env.emus.graph.identity.grant_admin_consent(env.emus.info["client_id"])
    await save_settings(env.db, env.link.id, DEMO_POLICY)
    await update_link(env.db, env.link.id, auth_mode=AuthMode.APPLICATION)
    link = await check_link(env.db, env.link.id, env.settings)
    assert link.state is LinkState.ACTIVE, link.state_reason
    async with await open_link_clients(env.db, link, env.settings) as clients:
        await operations.resync(env.db, clients, sweep=True, actor="worker")


async def test_the_demo_banner_walks_the_vodia_manual_in_delegated_mode(
    admin_env: AdminEnv, browser: Any
) -> None:
    env = admin_env
    await _as_the_demo_starts(env)
    context = await browser.new_context(
        ignore_https_errors=True, viewport={"width": 1280, "height": 800}
    )
    page = await context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: dialogs.append(d.message))
    user, password = env.tenant_admin
    await page.goto(f"{env.base_url}/links")
    await page.get_by_label("User name").fill(user)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", name="Links")).to_be_visible()

    # 1. Setup, the manual's way; the stored mode is application, so only the admin's
    # choice says "delegated": it must survive both trips to Microsoft.
    await page.goto(f"{env.base_url}/links/{env.link.id}/setup")
    # The group field is shown only with "Members of these groups".
    groups = page.locator("#group_ids")
    await expect(groups).to_be_hidden()
    await page.get_by_role("radio", name="Members of these groups").check()
    await expect(groups).to_be_visible()
    await page.get_by_role("radio", name="All accounts").check()
    await expect(groups).to_be_hidden()
    delegated = page.get_by_label(_said("Admin Consent + OAuth Token"), exact=False)
    await delegated.check()
    await _shots(page, "1-setup")
    await page.get_by_role("button", name="Admin Consent").click()
    await expect(page.locator("#consent-result")).to_have_text("Admin consent granted.")
    await expect(delegated).to_be_checked()
    await page.get_by_role("button", name="OAuth Token").click()
    green = page.locator("#token-result.badge.ok")
    await expect(green).to_contain_text(_said("Integration active"))
    await expect(delegated).to_be_checked()
    await _shots(page, "2-setup-green")
    await page.get_by_role("button", name="Save", exact=True).click()
    await expect(page.get_by_text("Saved. Integration active.")).to_be_visible()
    link = await get_link(env.db, env.link.id)
    assert link.auth_mode is AuthMode.DELEGATED and link.state is LinkState.ACTIVE
    assert await load_token_cache(env.db, env.link.id) is not None
    assert link.settings["auto_create"] is False  # the demo's: users wait to be picked

    # 2. The popup, with a user for each conflict.
    await page.get_by_role("link", name=_said("Overview"), exact=True).click()
    await page.get_by_role("button", name=_said("Sync Users & Create Extensions")).click()
    popup = page.locator("#sync-dialog")
    await expect(popup.locator("#sync-page")).to_contain_text(f"({_said('12 users')})")
    rows = popup.locator("#sync-table tbody tr")
    await expect(rows).to_have_count(12)
    dan = rows.filter(has_text="dan.wu@")
    await expect(dan.locator("td.conflict")).to_contain_text(_said("already on extension 250"))
    await expect(dan.locator("td.conflict")).to_contain_text("251")
    pat = rows.filter(has_text="Pat Kim")
    await expect(pat.locator("td.conflict")).to_contain_text(_said("no usable email"))
    await popup.get_by_label("Extension number for Ann Lee").fill(_said("200"))
    ann = rows.filter(has_text="ann.lee@")
    await expect(ann.locator("td.conflict")).to_contain_text(_said("200 is already in use"))
    await expect(ann.locator("td.conflict")).to_contain_text("suggested: 201")
    await popup.get_by_label("Extension number for Bob Stone").fill(_said("205"))
    await popup.get_by_label("Extension number for Cara Diaz").fill("205")
    for name in ("bob.stone@", "cara.diaz@"):
        cell = rows.filter(has_text=name).locator("td.conflict")
        await expect(cell).to_contain_text(_said("chosen for more than one user"))
    await _shots(page, "3-popup-conflicts")
    await _headings_stay_in_view(page)

    # 3. Select all, Auto-assign, Create Extensions.
    await popup.get_by_role("button", name=_said("Select all")).click()
    await expect(page.locator("#sync-summary")).to_contain_text("12 selected")
    await popup.get_by_role("button", name=_said("Auto-assign")).click()
    numbers = popup.locator("#sync-table input.number")
    expected = [str(n) for n in range(201, 210)]
    await expect(popup.locator("td.ok-text", has_text="new extension")).to_have_count(9)
    values = sorted(v for v in [await n.input_value() for n in await numbers.all()] if v)
    assert values == expected, _said("nine users get 201 to 209")
    full = rows.filter(has_text=_said("no free number left in 200-209"))
    await expect(full).to_have_count(1)
    await _shots(page, "4-popup-auto-assigned")
    await popup.get_by_role("button", name=_said("Create Extensions")).click()
    results = popup.locator("#sync-results")
    await expect(results.get_by_role("heading")).to_have_text(_said("Results: 9 of 12 done"))
    done = popup.locator("#sync-outcomes li").filter(
        has_text=re.compile(r": extension 2\d\d created$")
    )
    await expect(done).to_have_count(9)
    # The results are where the admin is looking: focused and on screen.
    await expect(popup.locator("#sync-results-title")).to_be_focused()
    await expect(results.get_by_role("heading")).to_be_in_viewport()
    await _shots(page, "5-popup-results")
    created = {a.settings["email_address"]: n for n in expected if (a := env.pbx.get(n))}
    assert len(created) == 9 and "dan.wu@contoso.example" not in created
    await popup.get_by_role("button", name="Close").click()

    # 4. Disable Unmatched Extensions: 200 only.
    await page.get_by_role("button", name=_said("Disable Unmatched Extensions")).click()
    unmatched = page.locator("#unmatched-dialog")
    table = unmatched.locator("#unmatched-table")
    await expect(table).to_contain_text(_said("old.employee@"))
    await expect(table.locator("tbody tr")).to_have_count(1)
    await _shots(page, "6-unmatched-preview")
    await unmatched.get_by_role("button", name="Confirm: disable these extensions").click()
    await expect(unmatched.locator("#unmatched-results-table")).to_contain_text("disabled")
    await _shots(page, "7-unmatched-results")
    assert env.pbx.get("200").settings["disabled"] in (True, "true")
    assert env.pbx.get("200") is not None, _said("never deleted")
    await unmatched.get_by_role("button", name="Close").click()

    # 5. Activity: the creates, the disable and the Setup save, with who did it.
    await page.get_by_role("link", name=_said("Activity"), exact=True).click()
    activity = page.locator("#activity-table")
    for number in [*expected, "200"]:
        await expect(activity).to_contain_text(number)
    await expect(activity).to_contain_text(user)
    await _shots(page, "8-activity")
    audit = await list_audit(env.db, env.link.id)
    by_action: dict[str, set[str]] = {}
    for entry in audit:
        by_action.setdefault(entry.action, set()).add(entry.number or "")
    assert by_action["create"] == set(expected)
    assert by_action["disable"] == {"200"}
    assert any(e.action == "setup saved" and e.actor == user for e in audit)
    assert not dialogs, "markup from the directory ran as script"
    await context.close()


async def _headings_stay_in_view(page: Page) -> None:
    """Scrolled to the end of the list, the popup's title and the column headings are still
    on screen; no phone number breaks across lines."""
    wrap = page.locator("#sync-dialog .table-wrap")
    await wrap.evaluate("w => { w.scrollTop = w.scrollHeight; }")
    await expect(page.locator("#sync-dialog #sync-table tbody tr").last).to_be_in_viewport()
    head = page.locator("#sync-table thead th").first
    top = await head.evaluate("h => h.getBoundingClientRect().top")
    box = await wrap.evaluate("w => w.getBoundingClientRect().top")
    assert abs(top - box) < 3, "the column headings scrolled away with the list"
    await expect(page.locator("#sync-title")).to_be_in_viewport()
    heights = await page.locator("#sync-table td.phone").evaluate_all(
        "cells => cells.filter(c => c.textContent).map(c => c.getClientRects().length"
        " && c.firstChild && (() => { const r = document.createRange();"
        " r.selectNodeContents(c); return r.getClientRects().length; })())"
    )
    assert heights and all(h == 1 for h in heights), f"a number wrapped: {heights}"
    await wrap.evaluate("w => { w.scrollTop = 0; }")


def test_banner_numbers_match_the_seed() -> None:
    """The counts the banner prints follow from the seed and the policy."""
    from cli.commands.demo import DEMO_PEOPLE

    users = len(DEMO_PEOPLE) + 2  # Mallory (markup in the name) and Pat (no email)
    assert _said(f"{users} users")
    waiting = users - 2  # Dan (email conflict) and Pat (no email) cannot get one
    free = 9  # 200-209 without 200
    assert _said(f"{waiting} users wait for one of the {free} free numbers")
    assert DEMO_POLICY["ranges"] == "200-209" and DEMO_POLICY["auto_create"] is False
