"""`/v1.0/subscriptions`: create (with the validation handshake), list, get, renew,
delete and reauthorize."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .context import CLAIMS, GraphContext, context
from .errors import bad_request, not_found
from .handshake import validate_endpoint
from .query import metadata_context
from .routes_users import read_json
from .subscriptions import (
    Subscription,
    check_url,
    parse_change_types,
    parse_client_state,
    parse_expiration,
    parse_resource,
)

_TLS_VERSIONS = ("v1_0", "v1_1", "v1_2", "v1_3")


async def create_subscription(request: web.Request) -> web.Response:
    ctx = context(request)
    body = await _object_body(request)
    claims = request[CLAIMS]
    allow_http = ctx.config.allow_http_loopback_notifications
    change_types = parse_change_types(body.get("changeType"))
    resource = parse_resource(body.get("resource"))
    notification_url = check_url(
        body.get("notificationUrl"), "notificationUrl", allow_http_loopback=allow_http
    )
    lifecycle_raw = body.get("lifecycleNotificationUrl")
    lifecycle_url = (
        None
        if lifecycle_raw is None
        else check_url(lifecycle_raw, "lifecycleNotificationUrl", allow_http_loopback=allow_http)
    )
    expires_at_s = parse_expiration(body.get("expirationDateTime"), ctx.clock.now())
    client_state = parse_client_state(body.get("clientState"))
    tls_version = str(body.get("latestSupportedTlsVersion") or "v1_2")
    if tls_version not in _TLS_VERSIONS:
        raise bad_request(f"Invalid latestSupportedTlsVersion '{tls_version}'.", "InvalidRequest")
    ctx.subscriptions.check_quota(claims.app_id)
    for url in (notification_url, lifecycle_url):
        if url is not None:
            await validate_endpoint(ctx.delivery.session, url, ctx.config.validation_timeout_s)
    sub = ctx.subscriptions.add(
        Subscription(
            id=ctx.subscriptions.new_id(),
            resource=resource,
            change_types=change_types,
            notification_url=notification_url,
            lifecycle_url=lifecycle_url,
            expires_at_s=expires_at_s,
            client_state=client_state,
            application_id=claims.app_id,
            creator_id=claims.oid,
            tls_version=tls_version,
        )
    )
    return _subscription_response(request, sub, status=201, reveal_client_state=True)


async def list_subscriptions(request: web.Request) -> web.Response:
    app_id = request[CLAIMS].app_id
    subs = [s.to_json() for s in context(request).subscriptions.all() if s.application_id == app_id]
    return web.json_response(
        {"@odata.context": metadata_context(request, "subscriptions"), "value": subs}
    )


async def get_subscription(request: web.Request) -> web.Response:
    sub = _own_subscription(request, context(request))
    return _subscription_response(request, sub)


async def update_subscription(request: web.Request) -> web.Response:
    ctx = context(request)
    sub = _own_subscription(request, ctx)
    body = await _object_body(request)
    allowed = {"expirationDateTime", "notificationUrl", "clientState"}
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise bad_request(f"Property '{unknown[0]}' cannot be updated.", "InvalidRequest")
    if "expirationDateTime" in body:
        sub.expires_at_s = parse_expiration(body["expirationDateTime"], ctx.clock.now())
    if "notificationUrl" in body:
        url = check_url(
            body["notificationUrl"],
            "notificationUrl",
            allow_http_loopback=ctx.config.allow_http_loopback_notifications,
        )
        await validate_endpoint(ctx.delivery.session, url, ctx.config.validation_timeout_s)
        sub.notification_url = url
    if "clientState" in body:
        sub.client_state = parse_client_state(body["clientState"])
    return _subscription_response(request, sub)


async def delete_subscription(request: web.Request) -> web.Response:
    ctx = context(request)
    ctx.subscriptions.remove(_own_subscription(request, ctx).id)
    return web.Response(status=204)


async def reauthorize_subscription(request: web.Request) -> web.Response:
    _own_subscription(request, context(request))
    return web.Response(status=204)


def _own_subscription(request: web.Request, ctx: GraphContext) -> Subscription:
    sub_id = request.match_info["subscription_id"]
    sub = ctx.subscriptions.get(sub_id)
    if sub.application_id != request[CLAIMS].app_id:
        raise not_found(sub_id)  # another app's subscription is invisible
    return sub


async def _object_body(request: web.Request) -> dict[str, Any]:
    body = await read_json(request)
    if not isinstance(body, dict):
        raise bad_request("Empty Payload. JSON content expected.", "BadRequest")
    return body


def _subscription_response(
    request: web.Request, sub: Subscription, status: int = 200, reveal_client_state: bool = False
) -> web.Response:
    body = {"@odata.context": metadata_context(request, "subscriptions/$entity")}
    body.update(sub.to_json(reveal_client_state=reveal_client_state))
    return web.json_response(body, status=status)


def add_subscription_routes(app: web.Application) -> None:
    r = app.router
    r.add_post("/v1.0/subscriptions", create_subscription)
    r.add_get("/v1.0/subscriptions", list_subscriptions)
    r.add_get("/v1.0/subscriptions/{subscription_id}", get_subscription)
    r.add_patch("/v1.0/subscriptions/{subscription_id}", update_subscription)
    r.add_delete("/v1.0/subscriptions/{subscription_id}", delete_subscription)
    r.add_post("/v1.0/subscriptions/{subscription_id}/reauthorize", reauthorize_subscription)
