"""What every admin page shares: the layout, flashes, and the per-link access check."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web

from admin.chrome import HELP, PRODUCT, framed, help_link, not_found_body
from admin.html import Markup, fmt, join, page
from admin.keys import principal_of, session_of
from edge.inputs import small_int
from store.errors import NotFound
from store.links import get_link
from store.models import Link, LinkState
from worker.appkeys import DB, SETTINGS
from worker.linkctx import LinkClients, open_link_clients


async def link_for(request: web.Request) -> Link:
    """The link in the URL, if this principal may see it (404 otherwise: another tenant's
    link does not even exist for a tenant admin)."""
    try:
        link_id = small_int(request.match_info["link_id"])
        link = await get_link(request.config_dict[DB], link_id)
    except (ValueError, NotFound):
        raise _not_found(request) from None
    if not principal_of(request).may_see(link.id):
        raise _not_found(request)
    return link


def _not_found(request: web.Request) -> web.HTTPException:
    if request.path.startswith("/api/"):
        return web.HTTPNotFound(text='{"error": "no such link"}', content_type="application/json")
    page = framed("Link not found", not_found_body("link"), status=404)
    return web.HTTPNotFound(text=page.text, content_type="text/html")


def require_daemon_admin(request: web.Request) -> None:
    if not principal_of(request).is_daemon_admin:
        raise web.HTTPForbidden(text="only the daemon administrator may do this")


@asynccontextmanager
async def link_clients(request: web.Request, link: Link) -> AsyncIterator[LinkClients]:
    clients = await open_link_clients(request.config_dict[DB], link, request.config_dict[SETTINGS])
    async with clients:
        yield clients


def flash(request: web.Request, kind: str, message: str) -> None:
    session = session_of(request)
    if session is not None:
        session.add_flash(kind, message)


def state_badge(link: Link) -> Markup:
    if link.state is LinkState.ACTIVE:
        return Markup('<span class="badge ok" role="status">Integration active</span>')
    return fmt(
        '<span class="badge bad" role="status">Setup Required</span>'
        ' <span class="reason">{r}</span>',
        r=link.state_reason,
    )


def link_nav(link: Link) -> Markup:
    items = [
        ("", "Overview"),
        ("/setup", "Setup"),
        ("/settings", "Settings"),
        ("/plan", "Dry-run plan"),
        ("/activity", "Activity"),
    ]
    return join(
        fmt('<a href="/links/{id}{s}">{label}</a>', id=link.id, s=suffix, label=label)
        for suffix, label in items
    )


def render(
    request: web.Request,
    title: str,
    body: Markup,
    *,
    link: Link | None = None,
    status: int = 200,
    topic: str = "",
) -> web.Response:
    """The page in the layout; `topic` picks the help link's troubleshooting section (one of
    `admin.chrome.HELP`; by default the one named like the path's last part, else the
    overview's for link pages, else the links list's)."""
    session = session_of(request)
    principal = principal_of(request)
    flashes = session.take_flashes() if session else []
    nav = Markup('<a href="/links">Links</a>')
    if link is not None:
        nav = Markup(nav + fmt(' <span class="sep">&rsaquo;</span> <b>{n}</b> ', n=link.name))
        nav = Markup(nav + link_nav(link))
    who = fmt(
        '{u} <form method="post" action="/logout" class="inline">'
        '<input type="hidden" name="csrf_token" value="{c}">'
        '<button type="submit" class="link">Sign out</button></form>',
        u=principal.username,
        c=session.csrf if session else "",
    )
    flash_html = join(
        fmt('<p class="flash {k}" role="status">{m}</p>', k=kind, m=message)
        for kind, message in flashes
    )
    html = page(
        "layout.html",
        title=title,
        product=PRODUCT,
        help=help_link(topic or _topic(request.path, link)),
        nav=nav,
        who=who,
        flash=flash_html,
        body=body,
        csrf=session.csrf if session else "",
    )
    return web.Response(text=html, content_type="text/html", status=status)


def _topic(path: str, link: Link | None) -> str:
    """The help section for a page nobody named one for: by the path's last part."""
    last = path.rstrip("/").rsplit("/", 1)[-1]
    if last in HELP:
        return last
    return "overview" if link is not None else "links"


def csrf_field(request: web.Request) -> Markup:
    session = session_of(request)
    return fmt(
        '<input type="hidden" name="csrf_token" value="{c}">', c=session.csrf if session else ""
    )
