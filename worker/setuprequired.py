"""Putting a link into Setup Required when it can no longer authenticate."""

from __future__ import annotations

from collections.abc import Awaitable

import structlog

from store.links import set_link_state
from store.models import Link, LinkState
from worker import metrics
from worker.clientcache import LinkClientsCache
from worker.context import WorkerContext
from worker.errors import SetupRequired

log = structlog.get_logger("m365sync.link")


async def mark_setup_required(
    ctx: WorkerContext, clients: LinkClientsCache, link: Link, exc: SetupRequired
) -> None:
    """The link stops being worked (its events stay queued) until an admin acts; its
    clients are closed and the operator is told. Used by rounds and by subscription upkeep."""
    log.warning("link.setup_required", reason=exc.reason, error_code=exc.error_code)
    metrics.TOKEN_FAILURES.labels(link=link.name).inc()
    await set_link_state(ctx.db, link.id, LinkState.SETUP_REQUIRED, exc.reason)
    await clients.drop(link.id)
    await quietly(ctx.alerts.setup_required(link, exc.reason))


async def quietly(work: Awaitable[None]) -> None:
    """Alerts must never break a round or the upkeep."""
    try:
        await work
    except Exception:
        log.exception("alert.failed")
