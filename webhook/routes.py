"""URL map of what Graph and monitoring talk to; all public. The admin page is its own
application (admin/), mounted beside these by the command line (cli/app.py)."""

from __future__ import annotations

from aiohttp import web

from webhook import health, notifications

NOTIFICATIONS_PATH = "/graph/notifications"
LIFECYCLE_PATH = "/graph/lifecycle"
GRAPH_PATHS = (NOTIFICATIONS_PATH, LIFECYCLE_PATH)


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/healthz", health.healthz)
    app.router.add_get("/readyz", health.readyz)
    app.router.add_get("/metrics", health.metrics)
    app.router.add_post(NOTIFICATIONS_PATH, notifications.change_notifications)
    app.router.add_post(LIFECYCLE_PATH, notifications.lifecycle_notifications)
