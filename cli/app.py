"""The daemon's HTTP surface put together: the webhook application (Graph, health,
metrics; public) with the admin applications mounted in it (admin/; guarded).

With M365SYNC_ADMIN_LISTEN the same application is served on two listeners
(edge/listeners.py): the public one answers only PUBLIC_ROUTES, the private one
everything but the Graph endpoints."""

from __future__ import annotations

from aiohttp import web

import admin
from admin.pages_setup import CONSENT_PATH, TOKEN_PATH
from edge.listeners import LISTENERS, Listeners, listener_filter
from store import Database
from webhook.app import create_app
from webhook.routes import GRAPH_PATHS
from worker.settings import Settings

# What the Internet reaches with a private admin listener: what Graph posts to, where
# Microsoft sends the browser back after consent or sign-in, and liveness.
PUBLIC_ROUTES = frozenset({*GRAPH_PATHS, CONSENT_PATH, TOKEN_PATH, "/healthz"})
# What only the public listener answers (the private one has no business with Graph).
PUBLIC_ONLY = frozenset(GRAPH_PATHS)


def create_daemon_app(
    settings: Settings, *, db: Database | None = None, run_worker: bool = False
) -> web.Application:
    """`create_app` (see webhook/app.py for `db` and `run_worker`) plus the admin page."""
    app = create_app(settings, db=db, run_worker=run_worker)
    app[LISTENERS] = Listeners(split=settings.admin_listen is not None)
    # After request_context (so a refusal is logged with its request id), before the
    # input guard and the admin guard: a route on the wrong listener does not exist.
    app.middlewares.insert(1, listener_filter(PUBLIC_ONLY, PUBLIC_ROUTES))
    admin.mount(app)
    return app
