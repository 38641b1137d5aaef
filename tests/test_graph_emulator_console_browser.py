"""The directory console in a real browser (Debian's Chromium through Playwright)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Page, async_playwright, expect

from emulators.graph.server import GraphEmulator
from tests.plugins.browser import CHROMIUM, CHROMIUM_ARGS

pytestmark = pytest.mark.browser

HOSTILE = '<img src=x onerror="window.pwned=1">'


@pytest.fixture
async def console(graph_emulator: GraphEmulator) -> AsyncIterator[Page]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        context = await browser.new_context(ignore_https_errors=True)
        page = await context.new_page()
        yield page
        await browser.close()


async def test_console_lists_pages_and_escapes_names(
    graph_emulator: GraphEmulator, console: Page
) -> None:
    """Names with markup show as text, and Next pages through the seeded users."""
    graph_emulator.directory.seed(60, seed=1)
    graph_emulator.directory.create_user(displayName=HOSTILE, userPrincipalName="h@contoso.example")
    await console.goto(f"{graph_emulator.url}/console")
    await expect(console.locator("#range")).to_have_text("1-50 of 61")
    await console.fill("#search", "onerror")
    await expect(console.locator("#users tr")).to_have_count(1)
    await expect(console.locator("#users tr td").first).to_have_text(HOSTILE)
    assert await console.evaluate("window.pwned") is None
    await console.fill("#search", "")
    await console.click("#next")
    await expect(console.locator("#range")).to_have_text("51-61 of 61")


async def test_console_adds_edits_deletes_restores_and_purges(
    graph_emulator: GraphEmulator, console: Page
) -> None:
    """Each console action changes the emulated directory."""
    directory = graph_emulator.directory
    await console.goto(f"{graph_emulator.url}/console")
    await console.fill("#f-displayName", "Renée Müller")
    await console.fill("#f-userPrincipalName", "renee@contoso.example")
    await console.fill("#f-businessPhones", "+1 425 555 0100")
    await console.click("#save")
    row = console.locator("#users tr", has_text="Renée Müller")
    await expect(row).to_have_count(1)
    (user_id,) = directory.active_ids()
    assert directory.get_user(user_id)["businessPhones"] == ["+1 425 555 0100"]

    await row.get_by_role("button", name="Edit").click()
    await console.fill("#f-displayName", "Renée Schäfer")
    await console.click("#save")
    await expect(console.locator("#users tr", has_text="Renée Schäfer")).to_have_count(1)
    assert directory.get_user(user_id)["displayName"] == "Renée Schäfer"

    await console.locator("#users tr").get_by_role("button", name="Delete").click()
    await expect(console.locator("#deleted tr")).to_have_count(1)
    assert directory.deleted_ids() == [user_id]

    await console.get_by_role("button", name="Restore").click()
    await expect(console.locator("#users tr")).to_have_count(1)
    assert directory.deleted_ids() == []

    await console.locator("#users tr").get_by_role("button", name="Delete").click()
    console.once("dialog", lambda dialog: dialog.accept())
    await console.get_by_role("button", name="Delete permanently").click()
    await expect(console.locator("#deleted tr")).to_have_count(0)
    assert directory.records[user_id].state == "hardDeleted"


async def test_console_shows_graph_errors(graph_emulator: GraphEmulator, console: Page) -> None:
    """A refused change (duplicate UPN) is reported on the page."""
    graph_emulator.directory.create_user(displayName="A", userPrincipalName="a@contoso.example")
    await console.goto(f"{graph_emulator.url}/console")
    await console.fill("#f-displayName", "B")
    await console.fill("#f-userPrincipalName", "a@contoso.example")
    await console.click("#save")
    await expect(console.locator("#status")).to_contain_text("already exists")
