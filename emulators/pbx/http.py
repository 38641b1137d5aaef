"""Request helpers shared by the PBX routes."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from emulators.pbx.auth import Authenticator, Principal, forbidden, unauthorized
from emulators.pbx.state import PbxState, Tenant

STATE_KEY = web.AppKey("pbx_state", PbxState)
AUTH_KEY = web.AppKey("pbx_auth", Authenticator)
TENANT_KEY = web.RequestKey("pbx_tenant", Tenant)
PRINCIPAL_KEY = web.RequestKey("pbx_principal", Principal)
_PUBLIC_PREFIX = "/rest/system/session"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def bad_request(message: str) -> web.HTTPException:
    return web.HTTPBadRequest(text=json.dumps({"error": message}), content_type="application/json")


def not_found(message: str = "Not found") -> web.HTTPException:
    return web.HTTPNotFound(text=json.dumps({"error": message}), content_type="application/json")


async def json_object(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json(loads=json.loads)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise bad_request("body is not JSON") from None
    if not isinstance(body, dict):
        raise bad_request("body must be a JSON object")
    return body


def tenant_of(request: web.Request) -> Tenant:
    return request[TENANT_KEY]


def json_reply(payload: Any) -> web.Response:
    # Compact separators: listing 10,000 extensions is dominated by serialisation.
    return web.Response(
        text=json.dumps(payload, separators=(",", ":")), content_type="application/json"
    )


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every /rest/ path but the session endpoints needs a principal in the right scope."""
    path = request.path
    if not path.startswith("/rest/"):
        return await handler(request)
    request.app[STATE_KEY].requests_by_method[request.method] += 1
    if path.rstrip("/") == _PUBLIC_PREFIX:
        return await handler(request)
    principal = request.app[AUTH_KEY].from_request(request)
    if principal is None:
        raise unauthorized()
    request[PRINCIPAL_KEY] = principal
    segments = path.split("/")
    if segments[2] == "system" and not principal.may_use_system():
        raise forbidden("Tenant scope cannot access system endpoints")
    if segments[2] == "domain" and len(segments) > 3:
        request[TENANT_KEY] = _authorised_tenant(request, principal, segments[3])
    return await handler(request)


def _authorised_tenant(request: web.Request, principal: Principal, domain: str) -> Tenant:
    tenant = request.app[STATE_KEY].find_tenant(domain)
    if tenant is None:
        if principal.kind == "system":
            raise not_found(f"Domain {domain} not found")
        raise forbidden("No access to this domain")
    if not principal.may_admin(tenant.name):
        raise forbidden("No access to this domain")
    return tenant
