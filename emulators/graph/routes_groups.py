"""`/v1.0/groups`: list, create, get, members (direct and transitive) and `$ref` edits."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from emulators.identity.tokens import READ_GROUP_MEMBERS_PERMISSIONS

from .context import CLAIMS, context
from .errors import GraphError, bad_request
from .filters import parse_filter
from .groups import GROUP_PROPERTIES
from .query import decode_skiptoken, metadata_context, next_page_link, page_size
from .routes_users import read_json
from .users import parse_select


def _page(request: web.Request, ids: list[str], entity_set: str, render: Any) -> web.Response:
    """Offset paging over an ordered list of ids (groups and memberships are small)."""
    size = page_size(request)
    after = decode_skiptoken(request)
    start = int(after) if after is not None and after.isdigit() else 0
    chunk = ids[start : start + size]
    body: dict[str, Any] = {
        "@odata.context": metadata_context(request, entity_set),
        "value": [render(object_id) for object_id in chunk],
    }
    if start + size < len(ids):
        body["@odata.nextLink"] = next_page_link(request, str(start + size))
    return web.json_response(body)


def _require_group_read(request: web.Request) -> None:
    """Reading groups and members needs GroupMember.Read.All or wider; User.Read.All is a
    403 (learn.microsoft.com/graph/api/group-list-transitivemembers, "Permissions")."""
    claims = request[CLAIMS]
    if not context(request).identity.has_any_permission(claims, READ_GROUP_MEMBERS_PERMISSIONS):
        raise GraphError(
            403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation."
        )


async def list_groups(request: web.Request) -> web.Response:
    """`$filter` as on users, e.g. `startswith(displayName,'Sales')`, which Graph allows on
    groups without advanced query headers (learn.microsoft.com/graph/api/group-list,
    "Optional query parameters" and its example "Use $filter and $top to get one group with
    a display name that starts with 'a'")."""
    _require_group_read(request)
    groups = context(request).directory.groups
    ids = groups.ids()
    raw_filter = request.query.get("$filter")
    if raw_filter is not None:
        eventual = request.headers.get("ConsistencyLevel", "").lower() == "eventual"
        keep = parse_filter(
            raw_filter, advanced=eventual, properties=GROUP_PROPERTIES, entity="group"
        )
        ids = [gid for gid in ids if keep(groups.by_id[gid].props)]
    return _page(request, ids, "groups", lambda gid: dict(groups.by_id[gid].props))


async def create_group(request: web.Request) -> web.Response:
    body = await read_json(request)
    if not isinstance(body, dict):
        raise bad_request("Empty Payload. JSON content expected.", "BadRequest")
    group = context(request).directory.groups.create(body)
    response = {"@odata.context": metadata_context(request, "groups/$entity")}
    response.update(group)
    return web.json_response(response, status=201)


async def get_group(request: web.Request) -> web.Response:
    _require_group_read(request)
    group = context(request).directory.groups.get(request.match_info["group_id"])
    body = {"@odata.context": metadata_context(request, "groups/$entity")}
    body.update(group.props)
    return web.json_response(body)


async def list_members(request: web.Request) -> web.Response:
    _require_group_read(request)
    groups = context(request).directory.groups
    select = parse_select(request.query.get("$select"))
    ids = groups.direct_members(request.match_info["group_id"])
    return _page(request, ids, "directoryObjects", lambda mid: groups.member_object(mid, select))


async def list_transitive_members(request: web.Request) -> web.Response:
    _require_group_read(request)
    groups = context(request).directory.groups
    select = parse_select(request.query.get("$select"))
    ids = groups.transitive_members(request.match_info["group_id"])
    return _page(request, ids, "directoryObjects", lambda mid: groups.member_object(mid, select))


async def add_member(request: web.Request) -> web.Response:
    body = await read_json(request)
    ref = body.get("@odata.id") if isinstance(body, dict) else None
    if not isinstance(ref, str) or "/" not in ref:
        raise bad_request("Invalid object identifier '@odata.id'.", "Request_BadRequest")
    member_id = ref.rstrip("/").rsplit("/", 1)[-1]
    context(request).directory.groups.add_member(request.match_info["group_id"], member_id)
    return web.Response(status=204)


async def remove_member(request: web.Request) -> web.Response:
    groups = context(request).directory.groups
    groups.remove_member(request.match_info["group_id"], request.match_info["member_id"])
    return web.Response(status=204)


def add_group_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/v1.0/groups", list_groups)
    r.add_post("/v1.0/groups", create_group)
    r.add_get("/v1.0/groups/{group_id}", get_group)
    r.add_get("/v1.0/groups/{group_id}/members", list_members)
    r.add_get("/v1.0/groups/{group_id}/transitiveMembers", list_transitive_members)
    r.add_post("/v1.0/groups/{group_id}/members/$ref", add_member)
    r.add_delete("/v1.0/groups/{group_id}/members/{member_id}/$ref", remove_member)
