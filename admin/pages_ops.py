"""Resync now, held approvals and the Dry-run plan table (Activity: pages_activity.py)."""

from __future__ import annotations

from aiohttp import web

from admin.common import flash, link_clients, link_for, render
from admin.html import Markup, fmt, join, page
from admin.keys import DIRECTORY, USERS, principal_of
from admin.pages_directory import conflict_fixes
from edge.inputs import read_form, whole_number
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
        request.app[DIRECTORY].drop(link.id)
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
            message=f"{a.message} ({a.notes[-1]})" if a.rule and a.notes else a.message,
        )
        for a in plan.actions
    )
    # Hunt groups after the plan (group rules): one line each, with who will be in it.
    rows = join(
        [
            rows,
            *(
                page(
                    "plan_row.html",
                    kind="hunt",
                    number=h.number,
                    email="",
                    changes="members: " + (" ".join(h.members) or "none"),
                    message=h.problem or f"rule {h.rule}: hunt group holds the rule's active users",
                )
                for h in plan.hunts
            ),
        ]
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
        body = Markup(body + conflict_fixes(link, outcome.plan))
    except SyncError as exc:
        body = fmt('<p class="error" role="alert">The plan could not be made: {e}</p>', e=exc)
    return render(request, f"Dry-run plan · {link.name}", body, link=link, topic="plan")
