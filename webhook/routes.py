"""URL map of the daemon's HTTP surface."""

from __future__ import annotations

from aiohttp import web

from webhook import health


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/healthz", health.healthz)
