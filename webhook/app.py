"""The aiohttp application factory. Each resource is owned by a cleanup_ctx."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from aiohttp import web

from edge.inputs import INPUT_LIMITS, MAX_BODY_BYTES, InputLimits, input_guard
from store import Database, open_store
from webhook import parser_errors
from webhook.keys import DB, ENGINE, ENGINE_TASK, SETTINGS, SUBSCRIPTIONS, WAKER
from webhook.middleware import request_context
from webhook.routes import setup_routes
from webhook.subscription_cache import SubscriptionCache
from worker.engine import build_engine
from worker.settings import Settings
from worker.wake import Waker


def create_app(
    settings: Settings, *, db: Database | None = None, run_worker: bool = False
) -> web.Application:
    """Build the app. A given `db` is used as is (and not closed); otherwise one is opened.

    With `run_worker`, the worker engine runs in the same process (`m365sync serve`),
    so one process owns the SQLite file.
    """
    # input_guard runs before the admin guard (added by setup_routes), so headers are
    # checked before any token or CSRF comparison and every BadInput becomes a 4xx.
    app = web.Application(
        client_max_size=MAX_BODY_BYTES, middlewares=[request_context, input_guard]
    )
    app[SETTINGS] = settings
    app[INPUT_LIMITS] = InputLimits()
    parser_errors.install()
    app[WAKER] = Waker()
    app[SUBSCRIPTIONS] = SubscriptionCache()
    if db is not None:
        app[DB] = db
    else:
        app.cleanup_ctx.append(_store_ctx)
    if run_worker:
        app.cleanup_ctx.append(_worker_ctx)
    setup_routes(app)
    return app


async def _store_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    db = await open_store(
        settings.store_location,
        secret_key=settings.secret_key,
        key_file=settings.key_file,
        synchronous=settings.sqlite_synchronous,
    )
    app[DB] = db
    yield
    await db.close()


async def _worker_ctx(app: web.Application) -> AsyncIterator[None]:
    stop = asyncio.Event()
    settings = app[SETTINGS]
    # Kept on the app so /readyz can see whether the loop is still going round.
    engine = build_engine(app[DB], settings, waker=app[WAKER])
    task = asyncio.create_task(engine.run(stop), name="worker-engine")
    app[ENGINE] = engine
    app[ENGINE_TASK] = task
    yield
    stop.set()
    with contextlib.suppress(asyncio.CancelledError):
        await task
