"""Resync now, held approvals, the Dry-run plan table and the Activity page with CSV."""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from admin.common import flash, link_clients, link_for, render
from admin.html import Markup, fmt, join, page, when
from admin.keys import USERS, principal_of
from edge.inputs import read_form, whole_number
from store.models import AuditEntry
from store.records import list_audit
from worker import operations
from worker.appkeys import DB
from worker.errors import SyncError
from worker.planner import Plan

AUDIT_PAGE = 200
CSV_MAX_ROWS = 100_000


async def resync_submit(request: web.Request) -> web.StreamResponse:
    link = await link_for(request)
    actor = f"admin:{principal_of(request).username}"
    try:
        async with link_clients(request, link) as clients:
            outcome = await operations.resync(request.config_dict[DB], clients, actor=actor)
        request.app[USERS].drop(link.id)
    except SyncError as exc:
        flash(request, "error", f"Resync failed: {exc}")
    else:
        counts = ", ".join(f"{k} {v}" for k, v in outcome.plan.counts().items() if v)
        flash(
            request,
            "ok",
            f"Resync done: {outcome.users_changed} users read; {counts or 'no changes'}.",
        )
    raise web.HTTPSeeOther(f"/links/{link.id}")


async def held_submit(request: web.Request) -> web.StreamResponse:
    link = await link_for(request)
    form = await read_form(request)
    decision = str(form.get("decision") or "")
    ids = [n for n in map(whole_number, form.getall("ids", [])) if n is not None]
    actor = f"admin:{principal_of(request).username}"
    if decision in ("approve", "reject") and not ids:
        flash(request, "error", "Pick at least one held action.")
        raise web.HTTPSeeOther(f"/links/{link.id}")
    try:
        if decision == "reject":
            count = await operations.reject_held(
                request.config_dict[DB], link, actor=actor, ids=ids
            )
            flash(request, "ok", f"Rejected {count} held action(s).")
        else:
            async with link_clients(request, link) as clients:
                applied = await operations.approve_held(
                    request.config_dict[DB],
                    clients,
                    actor=actor,
                    ids=None if decision == "approve_all" else ids,
                )
            failed = len(applied.result.failed)
            flash(
                request,
                "ok" if not failed else "error",
                f"Approved: {applied.result.ok_count} done, {failed} failed.",
            )
    except SyncError as exc:
        flash(request, "error", f"Could not apply: {exc}")
    raise web.HTTPSeeOther(f"/links/{link.id}")


def plan_table(plan: Plan, *, table_id: str = "plan-table") -> Markup:
    rows = join(
        page(
            "plan_row.html",
            kind=a.kind.value,
            number=a.number or "",
            email=a.email or "",
            changes="; ".join(f"{c.field}: {c.old!r} → {c.new!r}" for c in a.changes),
            message=a.message,
        )
        for a in plan.actions
    )
    counts = ", ".join(f"{k}: {v}" for k, v in plan.counts().items() if v) or "no changes"
    return page(
        "plan_table.html",
        tid=table_id,
        counts=counts,
        rows=rows or Markup('<tr><td colspan="5">Nothing to do.</td></tr>'),
    )


async def plan_page(request: web.Request) -> web.Response:
    link = await link_for(request)
    full = request.query.get("full") == "1"
    try:
        async with link_clients(request, link) as clients:
            outcome = await operations.dry_run(request.config_dict[DB], clients, full=full)
        body = page(
            "plan.html",
            what="What a full comparison of every user with the PBX would change now."
            if full
            else "What Resync now would change on the PBX now, from Microsoft 365's latest"
            " changes.",
            href="?" if full else "?full=1",
            other="Preview the latest changes instead" if full else "Plan a full comparison",
            table=plan_table(outcome.plan),
        )
    except SyncError as exc:
        body = fmt('<p class="error" role="alert">The plan could not be made: {e}</p>', e=exc)
    return render(request, f"Dry-run plan · {link.name}", body, link=link, topic="plan")


def _audit_filters(request: web.Request) -> dict[str, object]:
    q = request.query
    days = whole_number(q.get("days", ""), max_digits=6)
    return {
        "action": q.get("action") or None,
        "outcome": q.get("outcome") or None,
        "text": (q.get("q") or "")[:200] or None,
        "since": time.time() - days * 86400 if days is not None else None,
    }


async def activity_page(request: web.Request) -> web.Response:
    link = await link_for(request)
    filters = _audit_filters(request)
    entries = await list_audit(request.config_dict[DB], link.id, limit=AUDIT_PAGE, **filters)  # type: ignore[arg-type]
    q = request.query
    rows = join(_audit_row(e) for e in entries)
    body = page(
        "activity.html",
        action=q.get("action", ""),
        outcome=q.get("outcome", ""),
        text=q.get("q", ""),
        days=q.get("days", ""),
        link_id=link.id,
        qs=request.query_string,
        rows=rows or Markup('<tr><td colspan="8">Nothing recorded yet.</td></tr>'),
    )
    return render(request, f"Activity · {link.name}", body, link=link)


def _audit_row(e: AuditEntry) -> Markup:
    return page(
        "activity_row.html",
        at=when(e.at),
        action=e.action,
        outcome=e.outcome,
        number=e.number or "",
        before=_fields(e.before),
        after=_fields(e.after),
        reason=e.reason,
        by=f"{e.actor} ({e.trigger})",
    )


def _fields(values: Mapping[str, Any]) -> Markup:
    """One "field: value" per line; old and new values read side by side."""
    return join((fmt("{k}: {v}", k=k, v=v) for k, v in sorted(values.items())), "<br>")


def _compact(values: object) -> str:
    return json.dumps(values, ensure_ascii=False, sort_keys=True) if values else ""


async def activity_csv(request: web.Request) -> web.StreamResponse:
    link = await link_for(request)
    entries = await list_audit(
        request.config_dict[DB],
        link.id,
        limit=CSV_MAX_ROWS,
        **_audit_filters(request),  # type: ignore[arg-type]
    )
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        [
            "at",
            "actor",
            "trigger",
            "action",
            "outcome",
            "user_id",
            "number",
            "before",
            "after",
            "reason",
        ]
    )
    for e in entries:
        cells = [
            when(e.at),
            e.actor,
            e.trigger,
            e.action,
            e.outcome,
            e.user_id or "",
            e.number or "",
            _compact(e.before),
            _compact(e.after),
            e.reason,
        ]
        writer.writerow([_csv_safe(c) for c in cells])
    return web.Response(
        text=out.getvalue(),
        content_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="activity-link-{link.id}.csv"'},
    )


def _csv_safe(text: str) -> str:
    """Spreadsheets run cells starting with = + - @ as formulas; directory data must not."""
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text
