"""URL map of the daemon's HTTP surface."""

from __future__ import annotations

from aiohttp import web

import admin
from webhook import health, notifications


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/healthz", health.healthz)
    app.router.add_get("/readyz", health.readyz)
    app.router.add_get("/metrics", health.metrics)
    app.router.add_post("/graph/notifications", notifications.change_notifications)
    app.router.add_post("/graph/lifecycle", notifications.lifecycle_notifications)
    admin.setup(app)  # the admin page and /api: its guard keeps the routes above public
