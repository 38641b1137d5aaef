"""The JSON API for Disable Unmatched Extensions, held actions, Resync now, the dry-run plan
and the audit trail (docs/openapi.yaml)."""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from admin.api import actor_of, bad_request, error_response, json_body, sync_errors
from admin.common import link_clients, link_for
from admin.keys import DIRECTORY, USERS
from admin.linking import MAX_NUMBER_LEN, unmatched_rows
from edge.inputs import small_int
from store.records import list_audit, list_held
from worker import operations
from worker.appkeys import DB
from worker.planner import Action, ActionKind, Reason, plan_disable_unmatched

MAX_HELD_IDS = 100_000
MAX_EXCLUDE = 100_000


@sync_errors
async def unmatched_preview(request: web.Request) -> web.Response:
    """The plan, and a row per extension with its name, email and last seen in Microsoft 365."""
    link = await link_for(request)
    async with link_clients(request, link) as clients:
        inp = await operations.snapshot(request.config_dict[DB], clients)
    plan = plan_disable_unmatched(inp)
    return web.json_response({**plan.to_json(), "rows": unmatched_rows(plan, inp)})


def _exclude(body: dict[str, Any]) -> list[str]:
    """The numbers an administrator unticked in the preview."""
    items = body.get("exclude", [])
    if (
        not isinstance(items, list)
        or len(items) > MAX_EXCLUDE
        or not all(isinstance(n, str) and 0 < len(n) <= MAX_NUMBER_LEN for n in items)
    ):
        raise bad_request(
            f"exclude must be a list of at most {MAX_EXCLUDE} extension numbers", "exclude"
        )
    return items


@sync_errors
async def unmatched_apply(request: web.Request) -> web.Response:
    link = await link_for(request)
    exclude = _exclude(await json_body(request, empty_ok=True))
    async with link_clients(request, link) as clients:
        applied = await operations.disable_unmatched(
            request.config_dict[DB], clients, actor=actor_of(request), exclude=exclude
        )
    request.app[DIRECTORY].drop(link.id)
    failed = {a.number: why for a, why in applied.result.failed}
    results = [
        {
            "number": a.number,
            "email": a.email,
            "outcome": "failed" if a.number in failed else _unmatched_outcome(a),
            "message": failed.get(a.number) or a.message,
        }
        for a in applied.plan.actions
    ]
    return web.json_response({"plan": applied.plan.to_json(), "results": results})


def _unmatched_outcome(action: Action) -> str:
    if action.kind is ActionKind.DISABLE:
        return "disabled"
    if action.kind is ActionKind.HELD:
        return "held for approval"
    return "left out" if action.reason is Reason.EXCLUDED else "skipped"


async def get_held(request: web.Request) -> web.Response:
    link = await link_for(request)
    held = await list_held(request.config_dict[DB], link.id)
    return web.json_response(
        {
            "held": [
                {
                    "id": h.id,
                    "action": dict(h.action),
                    "reason": h.reason,
                    "created_at": h.created_at,
                }
                for h in held
            ]
        }
    )


def _held_ids(body: dict[str, Any]) -> list[int] | None:
    ids = body.get("ids")
    if ids is None:
        return None
    if (
        not isinstance(ids, list)
        or len(ids) > MAX_HELD_IDS
        or not all(isinstance(i, int) and not isinstance(i, bool) and 0 < i < 2**63 for i in ids)
    ):
        raise bad_request("ids must be a list of held action ids (or absent for all)", "ids")
    return ids


@sync_errors
async def held_approve(request: web.Request) -> web.Response:
    link = await link_for(request)
    ids = _held_ids(await json_body(request))
    async with link_clients(request, link) as clients:
        applied = await operations.approve_held(
            request.config_dict[DB], clients, actor=actor_of(request), ids=ids
        )
    return web.json_response(
        {
            "applied": applied.result.applied,
            "failed": [{"number": a.number, "error": why} for a, why in applied.result.failed],
        }
    )


async def held_reject(request: web.Request) -> web.Response:
    link = await link_for(request)
    ids = _held_ids(await json_body(request))
    count = await operations.reject_held(
        request.config_dict[DB], link, actor=actor_of(request), ids=ids
    )
    return web.json_response({"rejected": count})


@sync_errors
async def resync(request: web.Request) -> web.Response:
    link = await link_for(request)
    body = await json_body(request, empty_ok=True)
    for key in ("full", "sweep"):
        if body.get(key) is not None and not isinstance(body[key], bool):
            raise bad_request(f"{key} must be true or false", key)
    async with link_clients(request, link) as clients:
        outcome = await operations.resync(
            request.config_dict[DB],
            clients,
            full=bool(body.get("full")),
            sweep=bool(body.get("sweep")),
            actor=actor_of(request),
        )
    request.app[USERS].drop(link.id)
    request.app[DIRECTORY].drop(link.id)
    return web.json_response(
        {
            "kind": outcome.kind,
            "users_changed": outcome.users_changed,
            "plan": outcome.plan.to_json(),
        }
    )


@sync_errors
async def dry_run(request: web.Request) -> web.Response:
    link = await link_for(request)
    async with link_clients(request, link) as clients:
        outcome = await operations.dry_run(
            request.config_dict[DB], clients, full=request.query.get("full") == "1"
        )
    return web.json_response(outcome.plan.to_json())


async def get_audit(request: web.Request) -> web.Response:
    link = await link_for(request)
    q = request.query
    try:
        limit = min(1000, max(1, small_int(q.get("limit", "200"))))
        before_id = small_int(q["before_id"]) if q.get("before_id") else None
        days = small_int(q["days"]) if q.get("days") else None
    except ValueError:
        return error_response("limit, before_id and days must be whole numbers")
    entries = await list_audit(
        request.config_dict[DB],
        link.id,
        action=q.get("action") or None,
        outcome=q.get("outcome") or None,
        text=(q.get("q") or "")[:200] or None,
        since=time.time() - days * 86400 if days is not None else None,
        limit=limit,
        before_id=before_id,
    )
    return web.json_response(
        {
            "entries": [
                {
                    "id": e.id,
                    "at": e.at,
                    "actor": e.actor,
                    "trigger": e.trigger,
                    "action": e.action,
                    "outcome": e.outcome,
                    "user_id": e.user_id,
                    "number": e.number,
                    "before": dict(e.before),
                    "after": dict(e.after),
                    "reason": e.reason,
                }
                for e in entries
            ]
        }
    )
