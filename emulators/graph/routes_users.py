"""`/v1.0/users` and `/v1.0/directory/deletedItems`."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from .context import context
from .errors import bad_request
from .filters import parse_filter
from .query import (
    decode_skiptoken,
    metadata_context,
    next_page_link,
    page_size,
    refuse_unsupported,
)
from .users import parse_select, project


async def read_json(request: web.Request) -> Any:
    try:
        return await request.json()
    except ValueError:
        raise bad_request("Unable to read JSON request payload.", code="BadRequest") from None


async def list_users(request: web.Request) -> web.Response:
    refuse_unsupported(request)
    directory = context(request).directory
    select = parse_select(request.query.get("$select"))
    size = page_size(request)
    raw_filter = request.query.get("$filter")
    if raw_filter is None:
        ids, more = directory.page_after(decode_skiptoken(request), size)
    else:
        eventual = request.headers.get("ConsistencyLevel", "").lower() == "eventual"
        predicate = parse_filter(raw_filter, advanced=eventual)
        ids, more = directory.page_matching(predicate, decode_skiptoken(request), size)
    records = directory.records
    value = ",".join(records[uid].projected_json(select) for uid in ids)
    parts = [f'{{"@odata.context":{json.dumps(metadata_context(request, "users"))}']
    if more:
        parts.append(f'"@odata.nextLink":{json.dumps(next_page_link(request, ids[-1]))}')
    parts.append(f'"value":[{value}]}}')
    return web.Response(text=",".join(parts), content_type="application/json")


async def count_users(request: web.Request) -> web.Response:
    if request.headers.get("ConsistencyLevel", "").lower() != "eventual":
        raise bad_request("$count is not currently supported.", code="Request_BadRequest")
    return web.Response(text=str(context(request).directory.user_count))


async def get_user(request: web.Request) -> web.Response:
    directory = context(request).directory
    record = directory.active_record(directory.resolve(request.match_info["user_id"]))
    select = parse_select(request.query.get("$select"))
    body = {"@odata.context": metadata_context(request, "users/$entity")}
    body.update(project(record.props, select))
    return web.json_response(body)


async def create_user(request: web.Request) -> web.Response:
    body = await read_json(request)
    if not isinstance(body, dict):
        raise bad_request("Empty Payload. JSON content expected.", code="BadRequest")
    user = context(request).directory.create_user(**body)
    response = {"@odata.context": metadata_context(request, "users/$entity")}
    response.update(project(user, None))
    return web.json_response(response, status=201)


async def update_user(request: web.Request) -> web.Response:
    body = await read_json(request)
    if not isinstance(body, dict):
        raise bad_request("Empty Payload. JSON content expected.", code="BadRequest")
    directory = context(request).directory
    directory.update_user(directory.resolve(request.match_info["user_id"]), **body)
    return web.Response(status=204)


async def delete_user(request: web.Request) -> web.Response:
    directory = context(request).directory
    directory.soft_delete_user(directory.resolve(request.match_info["user_id"]))
    return web.Response(status=204)


async def list_deleted_users(request: web.Request) -> web.Response:
    directory = context(request).directory
    select = parse_select(request.query.get("$select"))
    size = page_size(request)
    after = decode_skiptoken(request)
    ids = [uid for uid in directory.deleted_ids() if after is None or uid > after]
    body: dict[str, Any] = {
        "@odata.context": metadata_context(request, "directoryObjects"),
        "value": [_deleted_view(directory.records[uid].props, select) for uid in ids[:size]],
    }
    if len(ids) > size:
        body["@odata.nextLink"] = next_page_link(request, ids[size - 1])
    return web.json_response(body)


def _deleted_view(props: dict[str, Any], select: tuple[str, ...] | None) -> dict[str, Any]:
    view = {"@odata.type": "#microsoft.graph.user", **project(props, select)}
    view["deletedDateTime"] = props["deletedDateTime"]
    return view


async def get_deleted_item(request: web.Request) -> web.Response:
    directory = context(request).directory
    record = directory.deleted_record(request.match_info["object_id"])
    select = parse_select(request.query.get("$select"))
    return web.json_response(_deleted_view(record.props, select))


async def restore_deleted_item(request: web.Request) -> web.Response:
    user = context(request).directory.restore_user(request.match_info["object_id"])
    body = {"@odata.context": metadata_context(request, "directoryObjects/$entity")}
    body.update(_deleted_view(user, None))
    return web.json_response(body)


async def purge_deleted_item(request: web.Request) -> web.Response:
    directory = context(request).directory
    directory.deleted_record(request.match_info["object_id"])
    directory.hard_delete_user(request.match_info["object_id"])
    return web.Response(status=204)


def add_user_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/v1.0/users", list_users)
    r.add_post("/v1.0/users", create_user)
    r.add_get("/v1.0/users/$count", count_users)
    r.add_get("/v1.0/users/{user_id}", get_user)
    r.add_patch("/v1.0/users/{user_id}", update_user)
    r.add_delete("/v1.0/users/{user_id}", delete_user)
    r.add_get("/v1.0/directory/deletedItems/microsoft.graph.user", list_deleted_users)
    r.add_get("/v1.0/directory/deletedItems/{object_id}", get_deleted_item)
    r.add_post("/v1.0/directory/deletedItems/{object_id}/restore", restore_deleted_item)
    r.add_delete("/v1.0/directory/deletedItems/{object_id}", purge_deleted_item)
