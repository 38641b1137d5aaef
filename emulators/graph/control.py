"""The emulator's control API under `/_emulator/` (not part of Graph): clock, delta
token expiry and 410s, lifecycle events, seeding, state dumps, faults and the identity
switches."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from emulators.faults import add_control_routes
from emulators.identity import add_identity_control_routes

from .context import GraphContext
from .errors import GraphError
from .users import iso_time

_FULL_DUMP_MAX_USERS = 1000
_MAX_SEED_USERS = 1_000_000


def advance_clock(ctx: GraphContext, seconds: float) -> float:
    now = ctx.clock.advance(seconds)
    ctx.directory.purge_expired_deleted()
    return now


async def json_object(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    try:
        body = await request.json()
    except ValueError:
        raise web.HTTPBadRequest(text="body must be JSON") from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text="body must be a JSON object")
    return body


def _number(body: dict[str, Any], key: str, default: float) -> float:
    value = body.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise web.HTTPBadRequest(text=f"{key} must be a non-negative number")
    return float(value)


def state_dump(ctx: GraphContext, full: bool) -> dict[str, Any]:
    directory = ctx.directory
    dump: dict[str, Any] = {
        "now": iso_time(ctx.clock.now()),
        "clock_offset_s": ctx.clock.offset_s,
        "change_seq": directory.seq,
        "replication_lag_s": directory.replication_lag_s,
        "user_count": directory.user_count,
        "deleted_user_ids": directory.deleted_ids(),
        "groups": [
            {**group.props, "members": list(group.members)}
            for group in directory.groups.by_id.values()
        ],
        "subscriptions": [sub.to_json() for sub in ctx.subscriptions.all()],
        "delivery": ctx.delivery.state(),
        "delta_token_epoch": ctx.delta_tokens.epoch,
        "delta_gone_remaining": ctx.gone_remaining,
        "identity": ctx.identity.state(),
    }
    if full or directory.user_count <= _FULL_DUMP_MAX_USERS:
        dump["users"] = [dict(directory.records[uid].props) for uid in directory.active_ids()]
    return dump


def add_graph_control_routes(app: web.Application, ctx: GraphContext, prefix: str) -> None:
    add_control_routes(app, ctx.faults, prefix)
    add_identity_control_routes(app, ctx.identity, prefix)
    _add_user_control_routes(app, ctx, prefix)

    async def clock(request: web.Request) -> web.Response:
        return web.json_response({"now": iso_time(ctx.clock.now()), "offset_s": ctx.clock.offset_s})

    async def clock_advance(request: web.Request) -> web.Response:
        advance_clock(ctx, _number(await json_object(request), "seconds", 0.0))
        return await clock(request)

    async def delta_expire(request: web.Request) -> web.Response:
        ctx.delta_tokens.expire_all()
        return web.json_response({"epoch": ctx.delta_tokens.epoch})

    async def delta_gone(request: web.Request) -> web.Response:
        ctx.gone_remaining += int(_number(await json_object(request), "count", 1))
        return web.json_response({"remaining": ctx.gone_remaining})

    async def lifecycle(request: web.Request) -> web.Response:
        event = (await json_object(request)).get("event")
        sub = ctx.subscriptions.get(request.match_info["subscription_id"])
        try:
            ctx.delivery.fire_lifecycle(sub, str(event))
        except ValueError as exc:
            raise web.HTTPBadRequest(text=str(exc)) from None
        return web.json_response({"fired": event, "subscriptionId": sub.id}, status=202)

    async def lag(request: web.Request) -> web.Response:
        seconds = _number(await json_object(request), "seconds", 0.0)
        ctx.directory.replication_lag_s = seconds
        return web.json_response({"replication_lag_s": seconds})

    async def seed(request: web.Request) -> web.Response:
        body = await json_object(request)
        count = int(_number(body, "users", 0))
        if count > _MAX_SEED_USERS:
            raise web.HTTPBadRequest(text=f"users must be at most {_MAX_SEED_USERS}")
        result = ctx.directory.seed(count, int(_number(body, "seed", 1)))
        return web.json_response(
            {
                "created": len(result.user_ids),
                "user_count": ctx.directory.user_count,
                "groups": result.group_ids,
            }
        )

    async def state(request: web.Request) -> web.Response:
        return web.json_response(state_dump(ctx, request.query.get("full") == "1"))

    async def delivery(request: web.Request) -> web.Response:
        return web.json_response(ctx.delivery.state())

    r = app.router
    r.add_get(f"{prefix}clock", clock)
    r.add_post(f"{prefix}clock/advance", clock_advance)
    r.add_post(f"{prefix}delta/expire", delta_expire)
    r.add_post(f"{prefix}delta/gone", delta_gone)
    r.add_post(f"{prefix}subscriptions/{{subscription_id}}/lifecycle", lifecycle)
    r.add_post(f"{prefix}lag", lag)
    r.add_post(f"{prefix}seed", seed)
    r.add_get(f"{prefix}state", state)
    r.add_get(f"{prefix}delivery", delivery)


def _add_user_control_routes(app: web.Application, ctx: GraphContext, prefix: str) -> None:
    """`POST {prefix}users/{id}/touch`: an `updated` notification the delta never shows."""

    async def touch(request: web.Request) -> web.Response:
        user_id = request.match_info["user_id"]
        try:
            ctx.directory.touch_user(user_id)
        except GraphError:
            raise web.HTTPNotFound(text="no such active user") from None
        return web.json_response({"notified": user_id}, status=202)

    app.router.add_post(f"{prefix}users/{{user_id}}/touch", touch)
