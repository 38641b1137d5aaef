"""The Links page, adding a link, and one link's overview with its buttons."""

from __future__ import annotations

from aiohttp import web

from admin import overview
from admin.common import (
    csrf_field,
    flash,
    link_for,
    render,
    require_daemon_admin,
    state_badge,
)
from admin.html import Markup, fmt, join, page, when_html
from admin.keys import principal_of
from edge.inputs import read_form
from store.errors import StoreError
from store.links import list_links
from store.models import AuthMode, HeldAction, NewLink
from store.records import list_held
from worker.appkeys import DB, SETTINGS
from worker.linkadmin import add_link, check_link
from worker.mail.testmail import send_test_mail
from worker.planner import PolicyError
from worker.polling import poll_mode
from worker.status import LinkStatus, link_status


async def links_page(request: web.Request) -> web.Response:
    principal = principal_of(request)
    links = [lk for lk in await list_links(request.config_dict[DB]) if principal.may_see(lk.id)]
    rows = [_row(await link_status(request.config_dict[DB], lk)) for lk in links]
    table = page(
        "links_table.html",
        rows=join(rows) or Markup('<tr><td colspan="8">No links yet.</td></tr>'),
    )
    body = Markup(table + (_add_form(request) if principal.is_daemon_admin else Markup("")))
    return render(request, "Links", body)


def _row(status: LinkStatus) -> Markup:
    link = status.link
    return page(
        "links_row.html",
        id=link.id,
        name=link.name,
        domain=link.pbx_domain,
        badge=state_badge(link),
        sub=_expiry(status.subscription_expires_at),
        round=overview.last_read(status),
        sweep=when_html(status.last_sweep.finished_at) if status.last_sweep else "not yet",
        queue=status.queue_pending,
        failed=status.events_failed,
        held=status.held,
    )


_ADD_FIELDS = (
    ("name", "Link name", "text", True),
    ("tenant_id", "Microsoft 365 tenant ID", "text", True),
    ("client_id", "Application (client) ID", "text", True),
    ("client_secret", "Client secret", "password", False),
    ("authority_url", "Identity platform URL", "url", False),
    ("graph_url", "Microsoft Graph URL", "url", False),
    ("pbx_url", "PBX URL", "url", True),
    ("pbx_domain", "PBX tenant (domain)", "text", True),
    ("pbx_user", "PBX administrator", "text", True),
    ("pbx_password", "PBX administrator password", "password", True),
    ("ca_bundle", "Extra CA bundle (path on the daemon's host)", "text", False),
)


def _add_form(request: web.Request, values: dict[str, str] | None = None) -> Markup:
    values = values or {}
    fields = join(
        fmt(
            '<label for="add-{n}">{label}</label>'
            '<input id="add-{n}" name="{n}" type="{t}"{req} value="{v}">',
            n=name,
            label=label,
            t=kind,
            req=Markup(" required") if required else "",
            v="" if kind == "password" else values.get(name, ""),
        )
        for name, label, kind, required in _ADD_FIELDS
    )
    return page("add_link.html", csrf=csrf_field(request), fields=fields, mode_delegated="checked")


async def add_link_submit(request: web.Request) -> web.StreamResponse:
    require_daemon_admin(request)
    form = {k: str(v).strip() for k, v in (await read_form(request)).items() if isinstance(v, str)}
    missing = [label for name, label, _, req in _ADD_FIELDS if req and not form.get(name)]
    if missing:
        flash(request, "error", f"Missing: {', '.join(missing)}")
        raise web.HTTPSeeOther("/links")
    mode = AuthMode.APPLICATION if form.get("auth_mode") == "application" else AuthMode.DELEGATED
    new = NewLink(
        name=form["name"][:100],
        tenant_id=form["tenant_id"],
        client_id=form["client_id"],
        auth_mode=mode,
        pbx_url=form["pbx_url"],
        pbx_domain=form["pbx_domain"],
        pbx_user=form["pbx_user"],
        authority_url=form.get("authority_url") or "https://login.microsoftonline.com",
        graph_url=form.get("graph_url") or "https://graph.microsoft.com",
        ca_bundle=form.get("ca_bundle") or None,
    )
    try:
        link = await add_link(
            request.config_dict[DB],
            new,
            pbx_password=form["pbx_password"],
            client_secret=form.get("client_secret") or None,
        )
    except (StoreError, PolicyError) as exc:
        flash(request, "error", str(exc))
        raise web.HTTPSeeOther("/links") from None
    flash(request, "ok", f"Link {link.name} added. Continue with its setup.")
    raise web.HTTPSeeOther(f"/links/{link.id}/setup")


async def link_page(request: web.Request) -> web.Response:
    link = await link_for(request)
    db = request.config_dict[DB]
    status = await link_status(db, link)
    held = await list_held(db, link.id)
    body = page(
        "link.html",
        link_id=link.id,
        badge=state_badge(link),
        mode=overview.sync_mode(status, poll_mode(request.config_dict[SETTINGS], link.settings)),
        last_notification=when_html(status.last_notification_at)
        if status.last_notification_at
        else "none yet",
        last_poll=when_html(status.last_poll_at) if status.last_poll_at else "none yet",
        next_sweep=await overview.next_sweep(db, status),
        last_read=overview.last_read(status),
        last_sweep=when_html(status.last_sweep.finished_at) if status.last_sweep else "not yet",
        last_change=await overview.last_change(db, link.id),
        queue=status.queue_pending,
        scheduled=status.queue_scheduled,
        failed=status.events_failed,
        last_failure=status.last_failure or "none",
        lease_wait=fmt('<dt>Worker lease</dt><dd id="lease-wait">{text}</dd>', text=text)
        if (text := status.lease_wait_text)
        else "",
        csrf=csrf_field(request),
        held_body=_held_body(request, link.id, held),
        held_count=len(held),
        auto_create="on" if link.settings.get("auto_create") else "off",
    )
    return render(request, link.name, body, link=link, topic="overview")


def _held_body(request: web.Request, link_id: int, held: list[HeldAction]) -> Markup:
    """The table with its buttons only when something waits: no live buttons over nothing."""
    if not held:
        return Markup('<p id="held-none">Nothing is waiting for approval.</p>')
    rows = join(
        page(
            "held_row.html",
            id=h.id,
            num=h.action.get("number") or "",
            email=h.action.get("email") or "",
            what=h.action.get("held_action") or h.action.get("action"),
            reason=h.reason,
            at=when_html(h.created_at),
        )
        for h in held
    )
    return fmt(
        '<form method="post" action="/links/{id}/held">{csrf}'
        '<div class="table-wrap"><table class="grid" id="held-table">'
        '<thead><tr><th scope="col">Pick</th><th scope="col">Extension</th>'
        '<th scope="col">Email</th><th scope="col">Action</th><th scope="col">Why held</th>'
        '<th scope="col">Since</th></tr></thead><tbody>{rows}</tbody></table></div>'
        '<div class="actions">'
        '<button type="submit" name="decision" value="approve" id="held-approve"'
        ' class="danger">Approve selected</button>'
        '<button type="submit" name="decision" value="approve_all" class="danger">'
        "Approve all</button>"
        '<button type="submit" name="decision" value="reject" class="danger secondary">'
        "Reject selected</button></div></form>",
        id=link_id,
        csrf=csrf_field(request),
        rows=rows,
    )


async def test_mail_submit(request: web.Request) -> web.StreamResponse:
    link = await link_for(request)
    result = await send_test_mail(request.config_dict[SETTINGS], link)
    flash(request, "ok" if result.ok else "error", result.text)
    raise web.HTTPSeeOther(f"/links/{link.id}")


async def check_submit(request: web.Request) -> web.StreamResponse:
    link = await link_for(request)
    link = await check_link(request.config_dict[DB], link.id, request.config_dict[SETTINGS])
    flash(
        request, "ok" if link.state.value == "active" else "error", _state_text(link.state_reason)
    )
    raise web.HTTPSeeOther(f"/links/{link.id}")


def _expiry(expires_at: float | None) -> Markup:
    return when_html(expires_at) if expires_at else Markup("none (full comparisons only)")


def _state_text(reason: str) -> str:
    return f"Setup Required: {reason}" if reason else "Integration active"
