"""The JSON API behind the page (`/api/...`, docs/openapi.yaml): session + CSRF header, or
`Authorization: Bearer <API token>`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from admin import selection
from admin.common import link_clients, link_for
from admin.keys import USERS, principal_of
from edge.inputs import BadInput, read_json_object, small_int
from store.links import list_links
from worker import operations
from worker.adminaudit import record_settings_change
from worker.appkeys import DB
from worker.errors import SyncError
from worker.linkadmin import save_settings
from worker.linksettings import validated_settings
from worker.planner import PolicyError
from worker.status import link_status

MAX_CHOSEN = 20_000
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def error_response(message: str, status: int = 400, **extra: Any) -> web.Response:
    return web.json_response({"error": message, **extra}, status=status)


def sync_errors(handler: Handler) -> Handler:
    """A PBX or Graph failure is the peer's fault (502); a busy link is a conflict (409)."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except operations.LinkBusy as exc:
            return error_response(str(exc), 409)
        except SyncError as exc:
            return error_response(str(exc), 502)

    return wrapped


async def json_body(request: web.Request, *, empty_ok: bool = False) -> dict[str, Any]:
    """The body as a JSON object (edge.inputs: size, deadline, strict JSON; 4xx if not)."""
    return await read_json_object(request, empty_ok=empty_ok)


def _chosen(body: dict[str, Any]) -> list[tuple[str, str | None]]:
    items = body.get("chosen")
    if not isinstance(items, list) or len(items) > MAX_CHOSEN:
        raise bad_request(f"chosen must be a list of at most {MAX_CHOSEN} users", "chosen")
    chosen: list[tuple[str, str | None]] = []
    for item in items:
        uid = item.get("id") if isinstance(item, dict) else None
        number = item.get("number") if isinstance(item, dict) else None
        if not isinstance(uid, str) or not 0 < len(uid) <= 100:
            raise bad_request("each chosen user needs an id", "chosen")
        if number is not None and (not isinstance(number, str) or len(number) > 16):
            raise bad_request("number must be text of at most 16 characters or null", "chosen")
        chosen.append((uid, number or None))
    return chosen


def _ids(body: dict[str, Any], key: str) -> list[str]:
    items = body.get(key) or []
    if not isinstance(items, list) or len(items) > MAX_CHOSEN:
        raise bad_request(f"{key} must be a list of at most {MAX_CHOSEN} ids", key)
    return [i for i in items if isinstance(i, str) and 0 < len(i) <= 100]


def bad_request(message: str, field: str | None = None) -> BadInput:
    """A 400 naming the field, answered by edge.inputs.input_guard."""
    return BadInput(400, "bad_field", message, field=field)


def actor_of(request: web.Request) -> str:
    return f"admin:{principal_of(request).username}"


# -- links ---------------------------------------------------------------------------------


async def get_links(request: web.Request) -> web.Response:
    principal = principal_of(request)
    links = [lk for lk in await list_links(request.config_dict[DB]) if principal.may_see(lk.id)]
    return web.json_response(
        {"links": [(await link_status(request.config_dict[DB], lk)).to_json() for lk in links]}
    )


async def get_link(request: web.Request) -> web.Response:
    link = await link_for(request)
    return web.json_response((await link_status(request.config_dict[DB], link)).to_json())


async def get_settings(request: web.Request) -> web.Response:
    link = await link_for(request)
    return web.json_response(validated_settings(link.settings))


async def put_settings(request: web.Request) -> web.Response:
    link = await link_for(request)
    body = await json_body(request)
    try:
        saved = await save_settings(request.config_dict[DB], link.id, {**link.settings, **body})
    except PolicyError as exc:
        return error_response(exc.message, 422, field=exc.field)
    actor = f"admin:{principal_of(request).username}"
    await record_settings_change(request.config_dict[DB], link, saved, actor=actor, via="API")
    return web.json_response(dict(saved.settings))


# -- the popup -----------------------------------------------------------------------------


async def get_users(request: web.Request) -> web.Response:
    link = await link_for(request)
    rows = selection.search(
        await request.app[USERS].get(request.config_dict[DB], link),
        request.query.get("q", "")[:200],
    )
    if request.query.get("ids") == "1":
        return web.json_response(
            {"total": len(rows), "ids": [r.id for r in rows if r.number is None]}
        )
    try:
        offset = max(0, small_int(request.query.get("offset", "0")))
        limit = min(selection.MAX_PAGE, max(1, small_int(request.query.get("limit", "50"))))
    except ValueError:
        return error_response("offset and limit must be whole numbers")
    page = rows[offset : offset + limit]
    return web.json_response(
        {"total": len(rows), "offset": offset, "limit": limit, "users": [r.to_json() for r in page]}
    )


@sync_errors
async def selection_preview(request: web.Request) -> web.Response:
    link = await link_for(request)
    body = await json_body(request)
    chosen, visible = _chosen(body), _ids(body, "visible")
    async with link_clients(request, link) as clients:
        inp = await operations.snapshot(request.config_dict[DB], clients)
    return web.json_response(selection.preview(inp, chosen, visible))


@sync_errors
async def selection_auto_assign(request: web.Request) -> web.Response:
    link = await link_for(request)
    ids = _ids(await json_body(request), "ids")
    async with link_clients(request, link) as clients:
        inp = await operations.snapshot(request.config_dict[DB], clients)
    return web.json_response({"numbers": selection.auto_assign(inp, ids)})


@sync_errors
async def selection_create(request: web.Request) -> web.Response:
    link = await link_for(request)
    chosen = _chosen(await json_body(request))
    if not chosen:
        return error_response("choose at least one user")
    async with link_clients(request, link) as clients:
        applied = await operations.create_selected(
            request.config_dict[DB], clients, chosen, actor=actor_of(request)
        )
    request.app[USERS].drop(link.id)
    return web.json_response(
        {
            "counts": applied.plan.counts(),
            "applied": applied.result.applied,
            "results": selection.outcomes(applied.plan, applied.result),
        }
    )
