"""Per-request logging context."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable

import structlog
from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def request_context(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Give every log line of a request (the access line included) one request id.

    Cleared at the start rather than the end: aiohttp writes the access line after the
    handler returns, and a kept-alive connection serves its next request in the same task.
    """
    request_id = secrets.token_hex(8)
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(request_id=request_id)
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        exc.headers["X-Request-Id"] = request_id
        raise
    response.headers["X-Request-Id"] = request_id
    return response
