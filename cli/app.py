"""The daemon's HTTP surface put together: the webhook application (Graph, health,
metrics; public) with the admin applications mounted in it (admin/; guarded)."""

from __future__ import annotations

from aiohttp import web

import admin
from store import Database
from webhook.app import create_app
from worker.settings import Settings


def create_daemon_app(
    settings: Settings, *, db: Database | None = None, run_worker: bool = False
) -> web.Application:
    """`create_app` (see webhook/app.py for `db` and `run_worker`) plus the admin page."""
    app = create_app(settings, db=db, run_worker=run_worker)
    admin.mount(app)
    return app
