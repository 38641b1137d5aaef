"""The JSON API for a conflict's way out and the users <-> extensions view
(docs/openapi.yaml): link a user to an existing extension, re-enable a linked one, and
the view's pages."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from admin import directoryview
from admin.api import actor_of, bad_request, error_response, json_body, sync_errors
from admin.common import link_clients, link_for
from admin.keys import DIRECTORY, USERS
from admin.linking import MAX_NUMBER_LEN, MAX_USER_ID_LEN, way_out_outcome
from edge.inputs import small_int
from store.models import Link
from worker import operations
from worker.appkeys import DB


def text_field(body: dict[str, Any], key: str, max_len: int) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not 0 < len(value.strip()) <= max_len:
        raise bad_request(f"{key} must be text of 1 to {max_len} characters", key)
    return value.strip()


def forget_views(request: web.Request, link: Link) -> None:
    """Our own write shows at once in the popup and the view (not after their TTL)."""
    request.app[USERS].drop(link.id)
    request.app[DIRECTORY].drop(link.id)


@sync_errors
async def link_user(request: web.Request) -> web.Response:
    link = await link_for(request)
    body = await json_body(request)
    user_id = text_field(body, "user_id", MAX_USER_ID_LEN)
    number = text_field(body, "number", MAX_NUMBER_LEN)
    async with link_clients(request, link) as clients:
        applied = await operations.link_extension(
            request.config_dict[DB], clients, user_id, number, actor=actor_of(request)
        )
    forget_views(request, link)
    return web.json_response(way_out_outcome(applied))


@sync_errors
async def reenable(request: web.Request) -> web.Response:
    link = await link_for(request)
    number = text_field(await json_body(request), "number", MAX_NUMBER_LEN)
    async with link_clients(request, link) as clients:
        applied = await operations.reenable_extension(
            request.config_dict[DB], clients, number, actor=actor_of(request)
        )
    forget_views(request, link)
    return web.json_response(way_out_outcome(applied))


async def get_directory(request: web.Request) -> web.Response:
    link = await link_for(request)
    q = request.query
    view = q.get("view", "users")
    if view not in directoryview.VIEWS:
        return error_response("view must be users or extensions")
    try:
        offset = max(0, small_int(q.get("offset", "0")))
        limit = min(directoryview.MAX_PAGE, max(1, small_int(q.get("limit", "50"))))
    except ValueError:
        return error_response("offset and limit must be whole numbers")
    users, spare = await request.app[DIRECTORY].get(request.config_dict[DB], link)
    rows = directoryview.search(users if view == "users" else spare, q.get("q", "")[:200])
    return web.json_response(
        {
            "view": view,
            "total": len(rows),
            "users_total": len(users),
            "extensions_total": len(spare),
            "offset": offset,
            "limit": limit,
            "rows": [r.to_json() for r in rows[offset : offset + limit]],
        }
    )
