"""`GET /v1.0/users/delta` (and its `microsoft.graph.delta` spelling)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from aiohttp import web

from .context import GraphContext, context, origin
from .delta import MAX_PAGE_SIZE, DeltaState, read_page
from .errors import GraphError, error_response
from .query import metadata_context
from .users import parse_select

_SAFE = "$,'"
_ID_TERM = re.compile(r"id eq '([^']+)'")
_ID_FILTER = re.compile(r"id eq '[^']+'(?: or id eq '[^']+')*")
_MAX_FILTER_IDS = 50


@dataclass(frozen=True, slots=True)
class Preferences:
    minimal: bool = False
    max_page_size: int | None = None


def parse_prefer(request: web.Request) -> Preferences:
    minimal, size = False, None
    for header in request.headers.getall("Prefer", []):
        for part in header.split(","):
            name, _, value = part.strip().partition("=")
            if name.strip().lower() == "return" and value.strip().lower() == "minimal":
                minimal = True
            elif name.strip().lower() == "odata.maxpagesize" and value.strip().isdigit():
                size = max(1, min(int(value), MAX_PAGE_SIZE))
    return Preferences(minimal, size)


async def users_delta(request: web.Request) -> web.Response:
    ctx = context(request)
    if ctx.gone_remaining > 0:
        ctx.gone_remaining -= 1
        return _gone(request, ctx)
    prefer = parse_prefer(request)
    state = _state_for(request, ctx)
    base = f"{origin(request)}{request.path}"
    body: dict[str, Any] = {"@odata.context": metadata_context(request, "users")}
    if request.query.get("$deltatoken") == "latest":
        body["value"] = []
        body["@odata.deltaLink"] = f"{base}?$deltatoken={ctx.delta_tokens.encode(state)}"
        return web.json_response(body)
    page = read_page(
        ctx.directory,
        state,
        prefer.max_page_size or ctx.config.delta_page_size,
        minimal=prefer.minimal,
        now_s=ctx.clock.now(),
    )
    body["value"] = page.items
    token = ctx.delta_tokens.encode(page.next_state)
    if page.round_done:
        body["@odata.deltaLink"] = f"{base}?$deltatoken={token}"
    else:
        body["@odata.nextLink"] = f"{base}?$skiptoken={token}"
    return web.json_response(body, headers=_applied(prefer))


def _state_for(request: web.Request, ctx: GraphContext) -> DeltaState:
    token = request.query.get("$skiptoken") or request.query.get("$deltatoken")
    if token == "latest":
        select = parse_select(request.query.get("$select"))
        ids = parse_id_filter(request.query.get("$filter"))
        return ctx.delta_tokens.start(select, since_seq=ctx.directory.visible_seq(), ids=ids)
    if token:
        # Query options ride in the token; ones added to a later request are ignored.
        return ctx.delta_tokens.decode(token)
    select = parse_select(request.query.get("$select"))
    return ctx.delta_tokens.start(select, ids=parse_id_filter(request.query.get("$filter")))


def parse_id_filter(raw: str | None) -> tuple[str, ...] | None:
    """Delta on users filters by id only: `id eq '…' or id eq '…'`, up to 50."""
    if raw is None:
        return None
    if _ID_FILTER.fullmatch(raw.strip()) is None:
        raise GraphError(
            400, "Request_UnsupportedQuery", "Unsupported query. Delta filters only by id."
        )
    ids = tuple(dict.fromkeys(_ID_TERM.findall(raw)))
    if len(ids) > _MAX_FILTER_IDS:
        raise GraphError(
            400,
            "Request_UnsupportedQuery",
            f"Too many ids in the filter; at most {_MAX_FILTER_IDS} are supported.",
        )
    return ids


def _applied(prefer: Preferences) -> dict[str, str]:
    applied = []
    if prefer.minimal:
        applied.append("return=minimal")
    if prefer.max_page_size is not None:
        applied.append(f"odata.maxpagesize={prefer.max_page_size}")
    return {"Preference-Applied": ", ".join(applied)} if applied else {}


def _gone(request: web.Request, ctx: GraphContext) -> web.Response:
    select = request.query.get("$select")
    token = request.query.get("$skiptoken") or request.query.get("$deltatoken")
    if token and token != "latest":
        try:
            baked = ctx.delta_tokens.decode(token).select
            select = ",".join(baked[1:]) if baked else None
        except GraphError:
            select = None
    location = f"{origin(request)}{request.path}?"
    if select:
        location += f"$select={quote(select, safe=_SAFE)}&"
    location += "$deltatoken="
    return error_response(
        410,
        "resyncRequired",
        "The delta token is no longer valid, and the app must reset the sync state.",
        request.headers.get("client-request-id"),
        headers={"Location": location},
    )


def add_delta_routes(app: web.Application) -> None:
    app.router.add_get("/v1.0/users/delta", users_delta)
    app.router.add_get("/v1.0/users/microsoft.graph.delta", users_delta)
    app.router.add_get("/v1.0/users/delta()", users_delta)
