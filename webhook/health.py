"""Liveness and readiness."""

from __future__ import annotations

from aiohttp import web


async def healthz(request: web.Request) -> web.Response:
    """The process is alive and serving HTTP."""
    return web.json_response({"status": "ok"})
