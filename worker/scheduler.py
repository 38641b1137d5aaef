"""Periodic upkeep per link: sweeps every N hours (with jitter) and the subscription."""

from __future__ import annotations

import asyncio
import hashlib

import structlog

from store.events import (
    enqueue_events,
    has_unfinished_event,
    last_created_at,
    last_done_at,
    purge_done_events,
    purge_done_polls,
    queue_stats,
)
from store.links import list_links
from store.models import EventKind, Link, LinkState, NewEvent, RoundKind, RoundRecord
from store.records import last_round, list_held
from worker import metrics
from worker.clientcache import LinkClientsCache
from worker.context import WorkerContext
from worker.errors import SetupRequired, SyncError
from worker.polling import poll_event, poll_mode
from worker.rounds import link_policy
from worker.setuprequired import mark_setup_required
from worker.status import NOTIFIED_KINDS
from worker.subscriptions import ensure_subscription, failure_reason, trusted_subscription

log = structlog.get_logger("m365sync.scheduler")

SWEEP_JITTER = 0.1
# Finished events are only history (the audit trail keeps what happened); 30 days of
# them is plenty to debug with, and the table stays small.
DONE_EVENTS_KEEP_S = 30 * 86400.0
# A finished poll says no more than "the link polled then": an hour of them is enough.
DONE_POLLS_KEEP_S = 3600.0
# Subscription checks run this many links at once: 500 links one after another made
# start-up take a quarter of a minute, and one throttled tenant held up every renewal.
SUBSCRIPTION_UPKEEP_CONCURRENCY = 16


class Scheduler:
    def __init__(self, ctx: WorkerContext, clients: LinkClientsCache) -> None:
        self.ctx = ctx
        self.clients = clients
        # When Graph last confirmed each subscription (this process only: a restart looks
        # once at start).
        self._verified: dict[str, float] = {}

    async def maintain(self) -> None:
        active = []
        for link in await list_links(self.ctx.db):
            metrics.LINK_ACTIVE.labels(link=link.name).set(link.state is LinkState.ACTIVE)
            await self._gauges(link)
            if link.state is not LinkState.ACTIVE:
                continue
            await self.schedule_sweep(link)
            await self.schedule_poll(link)
            active.append(link)
        if self.ctx.settings.public_url:
            await self._keep_subscriptions(active)
        await self.ctx.alerts.check_expiry(await list_links(self.ctx.db))
        await purge_done_events(self.ctx.db, self.ctx.clock() - DONE_EVENTS_KEEP_S)
        await purge_done_polls(self.ctx.db, self.ctx.clock() - DONE_POLLS_KEEP_S)

    async def schedule_sweep(self, link: Link) -> bool:
        """Queue a sweep when the last one is older than the link's interval."""
        db = self.ctx.db
        # A failed sweep does not count: the next maintenance schedules another.
        last = await last_round(db, link.id, RoundKind.SWEEP, succeeded=True)
        due_at = sweep_due_at(link, last)
        if due_at is None:
            return False
        now = self.ctx.clock()
        if now < due_at or await has_unfinished_event(db, link.id, EventKind.SWEEP):
            return False
        await enqueue_events(db, [NewEvent(link.id, EventKind.SWEEP)], now=now)
        self.ctx.waker.wake({link.id})
        log.info("sweep.scheduled", link=link.name)
        return True

    async def schedule_poll(self, link: Link) -> bool:
        """Start the link's chain of polls (each poll round queues the next one; see
        LinkWorker._next_poll): at start-up, for a new link, after a poll failed for good."""
        db = self.ctx.db
        if await has_unfinished_event(db, link.id, EventKind.POLL):
            return False
        mode = poll_mode(self.ctx.settings, link.settings)
        await enqueue_events(
            db, [poll_event(link.id, mode, self.ctx.clock())], now=self.ctx.clock()
        )
        log.info("poll.scheduled", link=link.name, mode=mode.name, interval_s=mode.interval_s)
        return True

    async def _keep_subscriptions(self, links: list[Link]) -> None:
        slots = asyncio.Semaphore(SUBSCRIPTION_UPKEEP_CONCURRENCY)

        async def keep(link: Link) -> None:
            async with slots:
                await self.keep_subscription(link)

        await asyncio.gather(*(keep(link) for link in links))

    async def keep_subscription(self, link: Link) -> None:
        ctx = self.ctx
        public_url = ctx.settings.public_url
        assert public_url is not None
        trusted = await trusted_subscription(ctx.db, link, public_url, ctx.clock(), self._verified)
        if trusted is not None:
            metrics.SUBSCRIPTION_TTL.labels(link=link.name).set(trusted.expires_at - ctx.clock())
            return
        try:
            async with self.clients.hold(link.id), ctx.subscription_lock(link.id):
                clients = await self.clients.get(link)
                result = await ensure_subscription(
                    ctx.db,
                    link,
                    clients.graph,
                    public_url,
                    now=ctx.clock(),
                    verified=self._verified,
                )
        except SetupRequired as exc:
            await mark_setup_required(ctx, self.clients, link, exc)
            return
        except SyncError as exc:
            reason = failure_reason(exc, public_url)
            log.warning("subscription.upkeep_failed", link=link.name, error=reason)
            await ctx.alerts.subscription_failed(link, reason)
            return
        metrics.SUBSCRIPTION_TTL.labels(link=link.name).set(
            result.subscription.expires_at - ctx.clock()
        )
        if result.gap and not await has_unfinished_event(ctx.db, link.id, EventKind.RESYNC):
            # A new subscription may have missed changes: catch up with a delta round.
            await enqueue_events(
                ctx.db, [NewEvent(link.id, EventKind.RESYNC, payload={"gap": True})]
            )
            ctx.waker.wake({link.id})

    async def _gauges(self, link: Link) -> None:
        db = self.ctx.db
        stats = await queue_stats(db, link.id, self.ctx.clock())
        metrics.QUEUE_DEPTH.labels(link=link.name).set(stats.due + stats.claimed)
        metrics.QUEUE_SCHEDULED.labels(link=link.name).set(stats.scheduled)
        metrics.FAILED_EVENTS.labels(link=link.name).set(stats.failed)
        oldest = stats.oldest_pending_at
        metrics.QUEUE_OLDEST_AGE.labels(link=link.name).set(
            max(0.0, self.ctx.clock() - oldest) if oldest else 0.0
        )
        metrics.HELD_ACTIONS.labels(link=link.name).set(len(await list_held(db, link.id)))
        mode = poll_mode(self.ctx.settings, link.settings)
        metrics.LINK_PUSH.labels(link=link.name).set(mode.push)
        metrics.POLL_INTERVAL.labels(link=link.name).set(mode.interval_s)
        notified = await last_created_at(db, link.id, NOTIFIED_KINDS)
        metrics.LAST_NOTIFICATION.labels(link=link.name).set(notified or 0.0)
        polled = await last_done_at(db, link.id, EventKind.POLL)
        metrics.LAST_POLL.labels(link=link.name).set(polled or 0.0)


def sweep_due_at(link: Link, last_ok_sweep: RoundRecord | None) -> float | None:
    """When the link's next sweep is due (in the past: at once), from its last successful sweep;
    None when its settings do not parse (no sweep is scheduled then)."""
    try:
        interval_s = link_policy(link.settings).sweep_interval_hours * 3600.0
    except SyncError:
        return None
    start = last_ok_sweep.finished_at if last_ok_sweep else 0.0
    return start + interval_s * (1 + _jitter(link.id))


def _jitter(link_id: int) -> float:
    """A stable fraction per link, so links don't all sweep at the same minute."""
    digest = hashlib.sha256(str(link_id).encode()).digest()
    return SWEEP_JITTER * digest[0] / 255
