"""Bearer checks on every Graph call, as Graph answers them."""

from __future__ import annotations

from aiohttp import web

from emulators.identity.tokens import TokenRejected

from .context import CLAIMS, context
from .errors import GraphError, Handler

GRAPH_PREFIX = "/v1.0/"


@web.middleware
async def bearer_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path.startswith(GRAPH_PREFIX):
        check_bearer(request)
    return await handler(request)


def check_bearer(request: web.Request) -> None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise GraphError(401, "InvalidAuthenticationToken", "Access token is empty.")
    identity = context(request).identity
    try:
        claims = identity.verify_access_token(token.strip())
    except TokenRejected as exc:
        raise GraphError(exc.status, exc.code, exc.message) from exc
    if not identity.has_graph_permission(claims):
        raise GraphError(
            403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation."
        )
    request[CLAIMS] = claims
