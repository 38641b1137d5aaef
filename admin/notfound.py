"""A path no application routes: a page a person can read instead of aiohttp's bare
"404: Not Found" (JSON under /api/). Only unrouted paths: a handler's own 404 stays."""

from __future__ import annotations

from aiohttp import web

from admin.auth import Handler, security_headers
from admin.chrome import framed, not_found_body


@web.middleware
async def friendly_not_found(request: web.Request, handler: Handler) -> web.StreamResponse:
    unrouted = isinstance(request.match_info.http_exception, web.HTTPNotFound)
    if not unrouted:
        return await handler(request)
    return await security_headers(request, _answer)


async def _answer(request: web.Request) -> web.StreamResponse:
    if request.path.startswith("/api/"):
        return web.json_response({"error": "not found"}, status=404)
    return framed("Page not found", not_found_body(), status=404)
