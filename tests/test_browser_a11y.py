"""Every admin page of tests/admin_pages.py in Debian's chromium: none scrolls sideways at
1280 px, axe-core (npm, injected into the page) finds no serious or critical violation,
Tab reaches every control, each page carries the one product name and a help link to an
existing troubleshooting section; screenshots at 1280x800 and 390x844 in test-artifacts/."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from playwright.async_api import Page, expect

from admin.chrome import PRODUCT
from store.links import update_link
from store.models import AuthMode
from tests.admin_pages import NOT_PAGES, PAGES, AdminPage
from tests.plugins.browser import ARTIFACTS, DAEMON_ADMIN, DAEMON_PASSWORD, AdminEnv
from tests.test_admin_security import _apps, _csrf, _sign_in
from worker.linkadmin import check_link

AXE = Path(__file__).resolve().parent / "js" / "node_modules" / "axe-core" / "axe.min.js"
WIDE = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}

Check = Callable[[Page, AdminPage], Awaitable[list[str]]]


@pytest.fixture
async def active_env(admin_env: AdminEnv) -> AdminEnv:
    """The link active (application mode) after one resync, so every page has content."""
    env = admin_env
    env.emus.graph.identity.grant_admin_consent(env.emus.info["client_id"])
    await update_link(env.db, env.link.id, auth_mode=AuthMode.APPLICATION)
    link = await check_link(env.db, env.link.id, env.settings)
    assert link.state.value == "active", link.state_reason
    async with aiohttp.ClientSession(
        env.base_url, cookie_jar=aiohttp.CookieJar(unsafe=True)
    ) as http:
        assert (await _sign_in(http, *env.tenant_admin)).status == 303
        http.headers["X-CSRF-Token"] = await _csrf(http)
        async with http.post(f"/api/links/{env.link.id}/resync", json={}) as synced:
            assert synced.status == 200, await synced.text()
        # Writes, so Activity and the Overview's figures have rows.
        chosen = [{"id": env.user_ids[name], "number": None} for name in ("Ann", "Bob")]
        create = f"/api/links/{env.link.id}/selection/create"
        async with http.post(create, json={"chosen": chosen}) as made:
            assert made.status == 200, await made.text()
    return env


async def _signed_in_page(env: AdminEnv, browser: Any) -> Page:
    # The pages' CSP allows no inline script; axe is injected as one.
    context = await browser.new_context(viewport=WIDE, bypass_csp=True)
    page: Page = await context.new_page()
    await page.goto(f"{env.base_url}/login")
    await page.get_by_label("User name").fill(DAEMON_ADMIN)
    await page.get_by_label("Password").fill(DAEMON_PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", name="Links", exact=True)).to_be_visible()
    return page


async def _open(page: Page, env: AdminEnv, row: AdminPage) -> None:
    await page.goto(env.base_url + row.url.format(link=env.link.id))
    if row.click:
        await page.locator(row.click).click()
        if row.click.startswith("#open-"):
            await expect(page.locator("dialog[open]")).to_be_visible()
    await page.wait_for_load_state("networkidle")


async def _walk(env: AdminEnv, browser: Any, check: Check) -> list[str]:
    """Run `check` on every page of the table (signed-out ones in a fresh context)."""
    problems: list[str] = []
    signed_in = await _signed_in_page(env, browser)
    for row in PAGES:
        if row.signed_in:
            page = signed_in
        else:
            page = await (await browser.new_context(viewport=WIDE, bypass_csp=True)).new_page()
        await page.set_viewport_size(WIDE)
        await _open(page, env, row)
        problems.extend(f"{row.name}: {p}" for p in await check(page, row))
        if not row.signed_in:
            await page.context.close()
    await signed_in.context.close()
    return problems


_OVERFLOW = """() => {
  const width = document.documentElement.clientWidth;
  const over = document.documentElement.scrollWidth - width;
  const wide = [...document.querySelectorAll('body *')]
    .filter((e) => e.getBoundingClientRect().right > width + 1)
    .slice(0, 5).map((e) => e.tagName.toLowerCase() + (e.id ? '#' + e.id : ''));
  return [over, wide];
}"""


async def test_no_admin_page_scrolls_sideways_at_1280px(active_env: AdminEnv, browser: Any) -> None:
    """…and each page is photographed at 1280x800 and 390x844 for a person to look at."""

    async def check(page: Page, row: AdminPage) -> list[str]:
        over, wide = await page.evaluate(_OVERFLOW)
        await page.screenshot(path=str(ARTIFACTS / f"page-{row.name}-1280.png"), full_page=True)
        await page.set_viewport_size(PHONE)
        await page.screenshot(path=str(ARTIFACTS / f"page-{row.name}-390.png"), full_page=True)
        return [f"scrolls {over}px sideways; wider: {wide}"] if over > 0 else []

    assert await _walk(active_env, browser, check) == []


async def test_axe_finds_no_serious_or_critical_violation(
    active_env: AdminEnv, browser: Any
) -> None:
    assert AXE.exists(), "run `make venv` (npm ci --prefix tests/js) for axe-core"

    async def check(page: Page, row: AdminPage) -> list[str]:
        await page.add_script_tag(path=str(AXE))
        result = await page.evaluate("axe.run(document, {resultTypes: ['violations']})")
        return [
            f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']][:4]}"
            for v in result["violations"]
            if v["impact"] in ("serious", "critical")
        ]

    assert await _walk(active_env, browser, check) == []


_CONTROLS = """() => {
  const modal = document.querySelector('dialog[open]');
  const scope = modal || document;
  const shown = (e) => {
    const r = e.getBoundingClientRect();
    return r.width > 0 && r.height > 0 && getComputedStyle(e).visibility !== 'hidden'
      && !e.disabled && !e.closest('[inert]');
  };
  const all = [...scope.querySelectorAll(
    'a[href], button, input:not([type=hidden]), select, textarea, summary')].filter(shown);
  // Tab enters a radio group once; the arrow keys move inside it.
  all.forEach((e, i) => { e.dataset.kb = e.type === 'radio' ? 'radio:' + e.name : 'c' + i; });
  return [...new Set(all.map((e) => e.dataset.kb))];
}"""


async def test_tab_reaches_every_control(active_env: AdminEnv, browser: Any) -> None:
    async def check(page: Page, row: AdminPage) -> list[str]:
        wanted: list[str] = await page.evaluate(_CONTROLS)
        reached: set[str] = set()
        for _ in range(len(wanted) * 2 + 5):
            await page.keyboard.press("Tab")
            key = await page.evaluate("document.activeElement?.dataset?.kb ?? ''")
            reached.add(key)
            if reached.issuperset(wanted):
                break
        missing = [k for k in wanted if k not in reached]
        if not missing:
            return []
        names = await page.evaluate(
            '(keys) => keys.map((k) => { const e = document.querySelector(`[data-kb="${k}"]`);'
            " return e.outerHTML.slice(0, 80); })",
            missing[:5],
        )
        return [f"Tab never reaches {len(missing)} of {len(wanted)}: {names}"]

    assert await _walk(active_env, browser, check) == []


async def test_every_page_has_the_product_name_and_a_help_link_to_its_section(
    active_env: AdminEnv, browser: Any
) -> None:
    env = active_env
    async with aiohttp.ClientSession() as http, http.get(f"{env.base_url}/help") as response:
        anchors = set(re.findall(r'<h[234] id="([^"]+)"', await response.text()))
    assert {"setup-required", "auto-sync-not-working"} <= anchors

    async def check(page: Page, row: AdminPage) -> list[str]:
        problems = []
        title = await page.title()
        if not title.endswith(f"· {PRODUCT}"):
            problems.append(f"title {title!r}")
        names = await page.locator(".brand, body.login h1").all_inner_texts()
        if names != [PRODUCT]:
            problems.append(f"product name shown as {names}")
        href = await page.locator("#help-link").get_attribute("href") or ""
        path, _, anchor = href.partition("#")
        if path != "/help" or (anchor and anchor not in anchors):
            problems.append(f"help link {href!r}")
        return problems

    assert await _walk(env, browser, check) == []


async def test_unknown_links_get_a_page_and_sign_out_says_so(
    active_env: AdminEnv, browser: Any
) -> None:
    env = active_env
    page = await _signed_in_page(env, browser)
    for path in ("/no/such/page", f"/links/{env.link.id + 999}", "/links/1/nothing"):
        response = await page.goto(env.base_url + path)
        assert response is not None and response.status == 404, path
        await expect(
            page.get_by_role("heading", name=re.compile("There is no such"))
        ).to_be_visible()
        await expect(page.get_by_role("link", name="Go to the list of links")).to_be_visible()
    async with aiohttp.ClientSession() as http, http.get(f"{env.base_url}/api/nothing") as api:
        assert api.status == 404 and await api.json() == {"error": "not found"}
    await page.goto(f"{env.base_url}/links")
    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_role("status")).to_have_text("You are signed out.")
    await page.goto(f"{env.base_url}/links")
    await expect(page.get_by_label("User name")).to_be_visible()
    await page.context.close()


def _page_routes(app: web.Application) -> set[str]:
    """GET routes of the admin applications that answer with a page."""
    found = set()
    for sub in _apps(app)[1:]:
        for resource in sub.router.resources():
            path = resource.canonical
            if path.startswith(("/api/", "/static")) or path in NOT_PAGES:
                continue
            if any(route.method == "GET" for route in resource):
                found.add(path)
    return found


def test_the_table_covers_every_page_route(admin_env: AdminEnv) -> None:
    app = admin_env.server.app
    assert app is not None
    listed = {row.route for row in PAGES if row.route and not row.route.startswith("POST ")}
    assert _page_routes(app) == listed
