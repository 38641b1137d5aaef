"""The users <-> extensions page: every Microsoft 365 user in scope with its extension, state
and last change; every extension no user is linked to. Searchable and paged on the server,
so it stays quick at 10,000 users. Its "Link to 250" and "Re-enable" buttons write only
after a confirmation: a form posted without `confirmed=1` (no JavaScript, or a forged link)
gets a confirmation page instead of a write."""

from __future__ import annotations

from urllib.parse import urlencode

from aiohttp import web
from multidict import MultiDictProxy

from admin import directoryview
from admin.api_linking import forget_views
from admin.common import csrf_field, flash, link_clients, link_for, render
from admin.directoryview import ViewRow
from admin.html import Markup, fmt, join, page, when
from admin.keys import DIRECTORY, principal_of
from admin.linking import MAX_NUMBER_LEN, MAX_USER_ID_LEN, way_out_outcome
from edge.inputs import read_form, whole_number
from store.models import Link
from worker import operations
from worker.appkeys import DB
from worker.errors import SyncError
from worker.planner import ActionKind, ConflictKind, Plan

PAGE_SIZE = 50
STATE_WORDS = {
    "linked": "Linked",
    "disabled": "Disabled",
    "no_extension": "Waiting for a number",
    "email_conflict": "Email conflict",
    "no_email": "No usable email",
    "extension_missing": "Extension missing on the PBX",
    "unlinked": "No user",
}
CHANGE_WORDS = {
    "create": "created",
    "bind": "linked",
    "update": "updated",
    "enable": "re-enabled",
    "disable": "disabled",
}


def _view_url(link: Link, view: str, q: str, offset: int = 0) -> str:
    params = {"view": view, **({"q": q} if q else {}), **({"offset": offset} if offset else {})}
    return f"/links/{link.id}/directory?{urlencode(params)}"


async def directory_page(request: web.Request) -> web.Response:
    link = await link_for(request)
    view = request.query.get("view", "users")
    view = view if view in directoryview.VIEWS else "users"
    q = request.query.get("q", "")[:200]
    offset = whole_number(request.query.get("offset", "0"), max_digits=9) or 0
    users, spare = await request.app[DIRECTORY].get(request.config_dict[DB], link)
    rows = directoryview.search(users if view == "users" else spare, q)
    offset = min(offset, max(0, len(rows) - 1)) // PAGE_SIZE * PAGE_SIZE
    shown = rows[offset : offset + PAGE_SIZE]
    csrf = csrf_field(request)
    body_rows = join(_row(request, link, view, q, r, csrf) for r in shown)
    empty = "No one matches this search." if q else "Nothing to show yet: run Resync now first."
    cols = 6 if view == "users" else 5
    body = page(
        "directory.html",
        link_id=link.id,
        q=q,
        view=view,
        tabs=_tabs(link, view, q, len(users), len(spare)),
        head=_head(view),
        rows=body_rows or fmt('<tr><td colspan="{c}">{e}</td></tr>', c=cols, e=empty),
        pager=_pager(link, view, q, offset, len(rows)),
    )
    return render(request, f"Users and extensions · {link.name}", body, link=link)


def _tabs(link: Link, view: str, q: str, n_users: int, n_spare: int) -> Markup:
    tabs = (
        ("users", f"Microsoft 365 users ({n_users:,})"),
        ("extensions", f"Extensions with no user ({n_spare:,})"),
    )
    return join(
        fmt(
            '<a href="{href}"{cur}>{label}</a>',
            href=_view_url(link, name, q),
            cur=Markup(' aria-current="page" class="current"') if name == view else "",
            label=label,
        )
        for name, label in tabs
    )


USER_COLUMNS = ("Name", "Email", "Extension", "State", "Last change", "Fix")
EXTENSION_COLUMNS = ("Extension", "Name", "Email", "State", "Last change")


def _head(view: str) -> Markup:
    names = USER_COLUMNS if view == "users" else EXTENSION_COLUMNS
    return join(fmt('<th scope="col">{n}</th>', n=n) for n in names)


def _row(request: web.Request, link: Link, view: str, q: str, r: ViewRow, csrf: Markup) -> Markup:
    state = fmt(
        '<span class="state state-{s}">{w}</span>', s=r.state, w=STATE_WORDS.get(r.state, r.state)
    )
    # "No user" says it all; other details add what the state word does not.
    if r.detail and r.state != "unlinked" and r.detail.lower() != STATE_WORDS[r.state].lower():
        state = Markup(state + fmt('<br><span class="detail">{d}</span>', d=r.detail))
    change = (
        fmt(
            '<span class="nowrap">{w}</span><br><span class="nowrap detail">{at}</span>',
            w=CHANGE_WORDS.get(r.last_action or "", r.last_action or ""),
            at=when(r.last_change),
        )
        if r.last_change
        else Markup('<span class="detail">none recorded</span>')
    )
    number = fmt('<span class="nowrap">{n}</span>', n=r.number or "")
    cells: tuple[str, ...]
    names: tuple[str, ...]
    if view == "extensions":
        cells, names = (number, r.name, r.email, state, change), EXTENSION_COLUMNS
    else:
        fix = _way_out(link, view, q, r, csrf)
        cells, names = (r.name, r.email, number, state, change, fix), USER_COLUMNS
    tds = join(
        fmt('<td data-label="{n}"><div>{c}</div></td>', n=n, c=c)
        for n, c in zip(names, cells, strict=True)
    )
    return fmt('<tr data-state="{s}">{tds}</tr>', s=r.state, tds=tds)


def _way_out(link: Link, view: str, q: str, r: ViewRow, csrf: Markup) -> Markup:
    who = r.name or r.email
    forms = [
        _button_form(
            link,
            "link",
            csrf,
            view,
            q,
            {"user_id": r.user_id or "", "number": number},
            f"Link to {number}",
            f"Link {who} to extension {number}? The extension's name, email and cell phone "
            "are set from Microsoft 365, and from now on it follows this user.",
        )
        for number in r.link_to
    ]
    if r.can_reenable and r.number:
        forms.append(
            _button_form(
                link,
                "reenable",
                csrf,
                view,
                q,
                {"number": r.number},
                "Re-enable",
                f"Re-enable extension {r.number} for {who}? It can make and take calls again.",
            )
        )
    return join(forms, " ")


def _button_form(
    link: Link,
    what: str,
    csrf: Markup,
    view: str,
    q: str,
    fields: dict[str, str],
    label: str,
    question: str,
) -> Markup:
    hidden = join(
        fmt('<input type="hidden" name="{k}" value="{v}">', k=k, v=v)
        for k, v in {**fields, "view": view, "q": q}.items()
    )
    return fmt(
        '<form method="post" action="/links/{id}/directory/{what}" class="inline"'
        ' data-confirm="{question}" data-confirm-label="{label}">{csrf}{hidden}'
        '<button type="submit" class="small">{label}</button></form>',
        id=link.id,
        what=what,
        question=question,
        label=label,
        csrf=csrf,
        hidden=hidden,
    )


def _pager(link: Link, view: str, q: str, offset: int, total: int) -> Markup:
    if total <= PAGE_SIZE:
        return fmt('<p class="pager" role="status">{n} shown</p>', n=f"{total:,}")
    prev_link = (
        fmt(
            '<a href="{h}" rel="prev">Previous page</a>',
            h=_view_url(link, view, q, offset - PAGE_SIZE),
        )
        if offset > 0
        else Markup("")
    )
    next_link = (
        fmt(
            '<a href="{h}" rel="next">Next page</a>', h=_view_url(link, view, q, offset + PAGE_SIZE)
        )
        if offset + PAGE_SIZE < total
        else Markup("")
    )
    status = fmt(
        '<span role="status">{a} to {b} of {t}</span>',
        a=f"{offset + 1:,}",
        b=f"{min(total, offset + PAGE_SIZE):,}",
        t=f"{total:,}",
    )
    return fmt(
        '<nav class="pager" aria-label="Pages">{p}{s}{n}</nav>', p=prev_link, s=status, n=next_link
    )


def _form_text(form: MultiDictProxy[str], key: str, max_len: int) -> str | None:
    value = form.get(key)
    if not isinstance(value, str) or not 0 < len(value.strip()) <= max_len:
        return None
    return value.strip()


async def link_submit(request: web.Request) -> web.StreamResponse:
    return await _way_out_submit(request, "link")


async def reenable_submit(request: web.Request) -> web.StreamResponse:
    return await _way_out_submit(request, "reenable")


async def _way_out_submit(request: web.Request, what: str) -> web.StreamResponse:
    link = await link_for(request)
    form = await read_form(request, unique=True)
    view = str(form.get("view") or "users")
    q = str(form.get("q") or "")[:200]
    back = _view_url(link, view if view in directoryview.VIEWS else "users", q)
    number = _form_text(form, "number", MAX_NUMBER_LEN)
    user_id = _form_text(form, "user_id", MAX_USER_ID_LEN) if what == "link" else None
    if number is None or (what == "link" and user_id is None):
        flash(request, "error", "Pick an extension (and a user) from the list.")
        raise web.HTTPSeeOther(back)
    if form.get("confirmed") != "1":
        return _confirm_page(request, link, what, user_id, number, view, q)
    actor = f"admin:{principal_of(request).username}"
    try:
        async with link_clients(request, link) as clients:
            db = request.config_dict[DB]
            if what == "link" and user_id is not None:
                applied = await operations.link_extension(db, clients, user_id, number, actor=actor)
            else:
                applied = await operations.reenable_extension(db, clients, number, actor=actor)
    except SyncError as exc:
        flash(request, "error", f"Nothing was changed: {exc}")
        raise web.HTTPSeeOther(back) from None
    forget_views(request, link)
    out = way_out_outcome(applied)
    ok = out["outcome"] in ("linked", "re-enabled")
    flash(request, "ok" if ok else "error", out["message"] if ok else f"Not done: {out['message']}")
    raise web.HTTPSeeOther(back)


def _confirm_page(
    request: web.Request,
    link: Link,
    what: str,
    user_id: str | None,
    number: str,
    view: str,
    q: str,
) -> web.Response:
    if what == "link":
        question = (
            f"Link this user to extension {number}? Its name, email and cell phone are set"
            " from Microsoft 365."
        )
        label = f"Link to {number}"
    else:
        question = f"Re-enable extension {number}? It can make and take calls again."
        label = "Re-enable"
    fields = {"number": number, "view": view, "q": q, "confirmed": "1"}
    if user_id is not None:
        fields["user_id"] = user_id
    hidden = join(
        fmt('<input type="hidden" name="{k}" value="{v}">', k=k, v=v) for k, v in fields.items()
    )
    body = fmt(
        '<section class="card"><p>{question}</p>'
        '<form method="post" action="/links/{id}/directory/{what}">{csrf}{hidden}'
        '<button type="submit">{label}</button> <a href="{back}">Cancel</a></form></section>',
        question=question,
        id=link.id,
        what=what,
        csrf=csrf_field(request),
        hidden=hidden,
        label=label,
        back=_view_url(link, view if view in directoryview.VIEWS else "users", q),
    )
    return render(request, f"Please confirm · {link.name}", body, link=link)


def conflict_fixes(link: Link, plan: Plan) -> Markup:
    """Under a dry run: each user with an email conflict, linked to the page that offers its
    way out (Link to 250 / Link to 251)."""
    emails = sorted(
        {
            a.email
            for a in plan.by_kind(ActionKind.CONFLICT)
            if a.conflict is ConflictKind.EMAIL and a.email
        }
    )
    if not emails:
        return Markup("")
    items = join(
        fmt(
            '<li><a href="{h}">{e}: link to one of its extensions</a></li>',
            h=_view_url(link, "users", email),
            e=email,
        )
        for email in emails
    )
    return fmt(
        '<section class="card" aria-labelledby="fixes-title" id="conflict-fixes">'
        '<h2 id="fixes-title">Email conflicts you can resolve</h2>'
        "<p>The address is already on an extension no user is linked to. Open the user in"
        " Users and extensions to link it, after a confirmation.</p><ul>{items}</ul></section>",
        items=items,
    )
