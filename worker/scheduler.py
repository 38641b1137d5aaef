"""Periodic upkeep per link: sweeps every N hours (with jitter) and the subscription."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

import structlog

from store.events import (
    enqueue_events,
    has_unfinished_event,
    purge_done_events,
    queue_stats,
)
from store.links import list_links, set_link_state
from store.models import Link, LinkState, NewEvent
from store.records import last_round, list_held
from worker import metrics
from worker.errors import SetupRequired, SyncError
from worker.rounds import link_policy
from worker.subscriptions import ensure_subscription, failure_reason

if TYPE_CHECKING:
    from worker.engine import Engine

log = structlog.get_logger("m365sync.scheduler")

SWEEP_JITTER = 0.1
# Finished events are only history (the audit trail keeps what happened); 30 days of
# them is plenty to debug with, and the table stays small.
DONE_EVENTS_KEEP_S = 30 * 86400.0


class Scheduler:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    async def maintain(self) -> None:
        for link in await list_links(self.engine.db):
            metrics.LINK_ACTIVE.labels(link=link.name).set(link.state is LinkState.ACTIVE)
            await self._gauges(link)
            if link.state is not LinkState.ACTIVE:
                continue
            await self.schedule_sweep(link)
            if self.engine.settings.public_url:
                await self.keep_subscription(link)
        await self.engine.alerts.check_expiry(await list_links(self.engine.db))
        await purge_done_events(self.engine.db, self.engine.clock() - DONE_EVENTS_KEEP_S)

    async def schedule_sweep(self, link: Link) -> bool:
        """Queue a sweep when the last one is older than the link's interval."""
        db = self.engine.db
        try:
            interval_s = link_policy(link.settings).sweep_interval_hours * 3600.0
        except SyncError:
            return False
        # A failed sweep does not count: the next maintenance schedules another.
        last = await last_round(db, link.id, "sweep", succeeded=True)
        due_at = (last.finished_at if last else 0.0) + interval_s * (1 + _jitter(link.id))
        now = self.engine.clock()
        if now < due_at or await has_unfinished_event(db, link.id, "sweep"):
            return False
        await enqueue_events(db, [NewEvent(link.id, "sweep")], now=now)
        self.engine.waker.wake({link.id})
        log.info("sweep scheduled", link=link.name)
        return True

    async def keep_subscription(self, link: Link) -> None:
        engine = self.engine
        public_url = engine.settings.public_url
        assert public_url is not None
        try:
            clients = await engine.links.clients(link)
            result = await ensure_subscription(
                engine.db, link, clients.graph, public_url, now=engine.clock()
            )
        except SetupRequired as exc:
            await set_link_state(engine.db, link.id, LinkState.SETUP_REQUIRED, exc.reason)
            await engine.links.drop_clients(link.id)
            await engine.alerts.setup_required(link, exc.reason)
            return
        except SyncError as exc:
            reason = failure_reason(exc, public_url)
            log.warning("subscription upkeep failed", link=link.name, error=reason)
            await engine.alerts.subscription_failed(link, reason)
            return
        metrics.SUBSCRIPTION_TTL.labels(link=link.name).set(
            result.subscription.expires_at - engine.clock()
        )
        if result.gap and not await has_unfinished_event(engine.db, link.id, "resync"):
            # A new subscription may have missed changes: catch up with a delta round.
            await enqueue_events(engine.db, [NewEvent(link.id, "resync", payload={"gap": True})])
            engine.waker.wake({link.id})

    async def _gauges(self, link: Link) -> None:
        db = self.engine.db
        stats = await queue_stats(db, link.id, self.engine.clock())
        metrics.QUEUE_DEPTH.labels(link=link.name).set(stats.due + stats.claimed)
        metrics.QUEUE_SCHEDULED.labels(link=link.name).set(stats.scheduled)
        metrics.FAILED_EVENTS.labels(link=link.name).set(stats.failed)
        oldest = stats.oldest_pending_at
        metrics.QUEUE_OLDEST_AGE.labels(link=link.name).set(
            max(0.0, self.engine.clock() - oldest) if oldest else 0.0
        )
        metrics.HELD_ACTIONS.labels(link=link.name).set(len(await list_held(db, link.id)))


def _jitter(link_id: int) -> float:
    """A stable fraction per link, so links don't all sweep at the same minute."""
    digest = hashlib.sha256(str(link_id).encode()).digest()
    return SWEEP_JITTER * digest[0] / 255
