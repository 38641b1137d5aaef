"""Every admin page the browser tests visit, in one table: add a row when you add a page.

`test_browser_a11y.test_the_table_covers_every_page_route` compares the rows with the
router, so a new GET page route without a row fails there."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AdminPage:
    name: str  # the screenshot's file name
    route: str | None  # the router's path this row covers ("POST ..." for a form's answer)
    url: str  # where the browser goes; {link} is the link's id
    click: str | None = None  # a control to press once loaded (a POST's page, a popup)
    signed_in: bool = True


PAGES = (
    AdminPage("login", "/login", "/login", signed_in=False),
    AdminPage("signed-out", None, "/login?signed_out=1", signed_in=False),
    AdminPage("help", "/help", "/help"),
    AdminPage("links", "/links", "/links"),
    AdminPage("overview", "/links/{link_id}", "/links/{link}"),
    AdminPage("sync-popup", None, "/links/{link}", click="#open-sync"),
    AdminPage("unmatched-popup", None, "/links/{link}", click="#open-unmatched"),
    AdminPage("check", "POST /links/{link_id}/doctor", "/links/{link}", click="#run-doctor"),
    AdminPage("setup", "/links/{link_id}/setup", "/links/{link}/setup"),
    AdminPage("settings", "/links/{link_id}/settings", "/links/{link}/settings"),
    AdminPage("plan", "/links/{link_id}/plan", "/links/{link}/plan"),
    AdminPage("activity", "/links/{link_id}/activity", "/links/{link}/activity"),
    AdminPage("directory", "/links/{link_id}/directory", "/links/{link}/directory"),
    AdminPage("not-found", None, "/no/such/page"),
    AdminPage("link-not-found", None, "/links/999999"),
)

# GET routes that are not pages: files, redirects, Microsoft's callbacks, downloads.
# /auth/return only sends the browser on to Setup (admin/listenerreturn.py).
NOT_PAGES = (
    "/",
    "/auth/consent",
    "/auth/token",
    "/auth/return",
    "/links/{link_id}/activity.csv",
)
