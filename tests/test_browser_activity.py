"""The Activity page in Debian's chromium: fits 1280 px without sideways scrolling, dates on
one line, a create reads without an empty "Before", the user's name and email in columns,
Action and Outcome chosen from selects, paging past 200 rows, the CSV with the name and
email; screenshots at 1280x800 and 390x844 into test-artifacts/."""

from __future__ import annotations

import csv
import io
from typing import Any

import aiohttp
from playwright.async_api import Page, expect

from store.links import update_link
from store.models import AuditEntry, AuthMode
from store.records import add_audit
from tests.plugins.browser import ARTIFACTS, AdminEnv
from tests.test_admin_security import _csrf, _sign_in
from worker.linkadmin import check_link

FILLER = 250  # more than a page (200)


async def _history(env: AdminEnv) -> None:
    """Old field updates (more than a page), then what an admin does today: a full
    comparison (the demo's email conflict) and a create chosen in Sync Users."""
    env.emus.graph.identity.grant_admin_consent(env.emus.info["client_id"])
    await update_link(env.db, env.link.id, auth_mode=AuthMode.APPLICATION)
    assert (await check_link(env.db, env.link.id, env.settings)).state.value == "active"
    async with env.db.atomic() as tx:
        await add_audit(
            tx,
            [
                AuditEntry(
                    link_id=env.link.id,
                    action="update",
                    outcome="ok",
                    trigger="sweep",
                    user_id=env.user_ids["Bob"],
                    number="201",
                    before={"cell_dis": "+14255550100", "display_name": f"Old{i}"},
                    after={"cell_dis": "+14255550102", "display_name": f"New{i}"},
                    reason="fields_changed",
                    at=1_760_000_000.0 + i,
                )
                for i in range(FILLER)
            ],
        )
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(env.base_url, cookie_jar=jar) as http:
        assert (await _sign_in(http, *env.tenant_admin)).status == 303
        http.headers["X-CSRF-Token"] = await _csrf(http)
        async with http.post(f"/api/links/{env.link.id}/resync", json={"full": True}) as r:
            assert r.status == 200
        chosen = [{"id": env.user_ids["Ann"], "number": "220"}]
        async with http.post(
            f"/api/links/{env.link.id}/selection/create", json={"chosen": chosen}
        ) as r:
            assert r.status == 200


async def _sign_in_page(page: Page, env: AdminEnv) -> None:
    user, password = env.tenant_admin
    await page.goto(f"{env.base_url}/links/{env.link.id}/activity")
    await page.get_by_label("User name").fill(user)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator("#activity-table")).to_be_visible()


async def _no_sideways_scroll(page: Page) -> None:
    overflow = await page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"the page scrolls sideways by {overflow} px"


async def _dates_on_one_line(page: Page) -> None:
    lines = await page.eval_on_selector_all(
        "#activity-table td.when time", "els => els.map(e => e.getClientRects().length)"
    )
    assert lines and set(lines) == {1}, lines


async def test_activity_page_filters_pages_and_exports(admin_env: AdminEnv, browser: Any) -> None:
    env = admin_env
    await _history(env)
    context = await browser.new_context(
        ignore_https_errors=True, viewport={"width": 1280, "height": 800}, accept_downloads=True
    )
    page = await context.new_page()
    await _sign_in_page(page, env)
    table = page.locator("#activity-table")
    await _no_sideways_scroll(page)
    await _dates_on_one_line(page)
    await page.screenshot(path=str(ARTIFACTS / "activity-1280.png"), full_page=False)

    # A create: name, email and new values, no empty "Before" and no field codes.
    created = table.locator("tbody tr", has_text="Extension created")
    await expect(created).to_have_count(1)
    await expect(created).to_contain_text("Ann Lee")
    await expect(created).to_contain_text("ann.lee@")
    await expect(created.locator("td[data-label=Changes]")).to_contain_text("Last name: Lee")
    await expect(created.locator("td[data-label=Changes]")).not_to_contain_text("→")
    await expect(created).to_contain_text("chosen in Sync Users")
    for code in ("display_name", "cell_dis", "email_address", "new_user:", "selected:"):
        await expect(table).not_to_contain_text(code)
    await expect(table).to_contain_text("Cell phone: +14255550100 → +14255550102")
    await expect(table.locator("tbody tr", has_text="Conflict")).to_contain_text("Dan Wu")

    # Action and Outcome are selects, not free text.
    assert await page.locator("#f-action").evaluate("e => e.tagName") == "SELECT"
    assert await page.locator("#f-outcome").evaluate("e => e.tagName") == "SELECT"
    await page.locator("#f-action").select_option(label="Extension updated")
    await page.get_by_role("button", name="Filter").click()
    await expect(page.locator("#activity-count")).to_contain_text("200 entries (more below)")
    await expect(table.locator("tbody tr", has_text="Extension created")).to_have_count(0)
    await expect(page.locator("#f-action")).to_have_value("update")

    # Paging: the older entries continue where the first page ended.
    first_page = await table.locator("td.when time").all_inner_texts()
    await page.locator("#activity-older").click()
    await expect(page.locator("#activity-count")).to_contain_text(f"{FILLER - 200} entries")
    older = await table.locator("td.when time").all_inner_texts()
    assert len(older) == FILLER - 200 and older[0] < first_page[-1]
    await expect(page.locator("#activity-older")).to_have_count(0)
    await expect(page.locator("#f-action")).to_have_value("update")
    await page.locator("#activity-newest").click()
    await expect(page.locator("#activity-count")).to_contain_text("200 entries")

    # The CSV: the same filter, with the user's name and email.
    await page.locator("#f-action").select_option(value="create")
    await page.get_by_role("button", name="Filter").click()
    async with page.expect_download() as info:
        await page.locator("#activity-csv").click()
    download = await info.value
    path = await download.path()
    with open(path, encoding="utf-8") as f:
        rows = list(csv.DictReader(io.StringIO(f.read())))
    assert [(r["number"], r["user_name"]) for r in rows] == [("220", "Ann Lee")]
    assert rows[0]["user_email"].startswith("ann.lee@") and "Last name: Lee" in rows[0]["changes"]

    await page.goto(f"{env.base_url}/links/{env.link.id}/activity")
    await page.set_viewport_size({"width": 390, "height": 844})
    await _no_sideways_scroll(page)
    await page.screenshot(path=str(ARTIFACTS / "activity-390.png"), full_page=False)
    await context.close()
