"""The worker engine: claims events per link, runs rounds, schedules sweeps and keeps
subscriptions alive, until told to stop.

One round at a time per link (an asyncio lock here, a lease row across processes);
links run concurrently. Shutdown is three steps: stop claiming, give running rounds a
grace period, cancel what is left (their events are handed back, not lost).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import socket
import time
from collections.abc import Awaitable, Callable

import structlog

from store import Database
from store.events import EVENTS_CHANNEL, due_link_ids, next_due_at, woken_links
from store.sweeps import due_link_ids_with_slots
from worker.alerts import Alerts
from worker.clientcache import ClientsFactory, LinkClientsCache
from worker.context import EngineConfig, WorkerContext
from worker.heap import HeapTrimmer
from worker.leasing import LeaseKeeper
from worker.linkwork import LinkWorker
from worker.mail import alerts_from_settings
from worker.metrics import WORKER_HEARTBEAT
from worker.scheduler import Scheduler
from worker.settings import Settings
from worker.wake import Waker

log = structlog.get_logger("m365sync.engine")


def build_engine(
    db: Database,
    settings: Settings,
    *,
    waker: Waker | None = None,
    config: EngineConfig | None = None,
    alerts: Alerts | None = None,
    clients_factory: ClientsFactory | None = None,
    clock: Callable[[], float] = time.time,
    worker_id: str | None = None,
) -> Engine:
    """The one place an engine is put together (`serve`, `worker`, tests, benchmarks).
    Without `alerts`, the settings decide (e-mail when M365SYNC_SMTP_URL is set)."""
    ctx = WorkerContext(
        db=db,
        settings=settings,
        config=config or EngineConfig.from_settings(settings),
        clock=clock,
        worker_id=worker_id or f"{socket.gethostname()}:{os.getpid()}:{os.urandom(4).hex()}",
        alerts=alerts if alerts is not None else alerts_from_settings(settings, db),
        waker=waker or Waker(),
    )
    leases = LeaseKeeper(
        db, ctx.worker_id, lease_s=ctx.config.lease_s, beat_s=ctx.config.beat_s, clock=clock
    )
    clients = LinkClientsCache(db, settings, clients_factory, idle_s=ctx.config.clients_idle_s)
    return Engine(ctx, clients, leases)


class Engine:
    def __init__(self, ctx: WorkerContext, clients: LinkClientsCache, leases: LeaseKeeper) -> None:
        self.ctx = ctx
        self.clients = clients
        self.leases = leases
        self.links = LinkWorker(ctx, clients, leases)
        self.scheduler = Scheduler(ctx, clients)
        self.heap = HeapTrimmer()
        self._rounds_seen = 0
        self._running: dict[int, asyncio.Task[None]] = {}
        # When this engine last started each link's round (a counter): the fair order
        # in which links waiting for a round slot get one.
        self._started: dict[int, int] = {}
        self._starts = 0
        self._capped = False  # links were left waiting for a round slot
        self._claiming = True
        self.last_loop_at = 0.0
        self._listening: bool | None = None  # None: not asked yet

    @property
    def rounds_run(self) -> int:
        return self.links.rounds_run

    async def run(self, stop: asyncio.Event) -> None:
        """Work until `stop` is set, then shut down in three steps."""
        log.info("engine.started", worker=self.ctx.worker_id)
        next_maintenance = 0.0
        maintenance: asyncio.Task[None] | None = None
        try:
            while not stop.is_set():
                self.last_loop_at = self.ctx.clock()
                WORKER_HEARTBEAT.set(self.last_loop_at)
                await self._guarded(self._listen())
                if self.last_loop_at >= next_maintenance and (
                    maintenance is None or maintenance.done()
                ):
                    # In a task of its own: a throttled tenant's subscription check waits
                    # out its Retry-After there, while every other link's events are claimed.
                    maintenance = asyncio.create_task(
                        self._guarded(self.scheduler.maintain()), name="maintenance"
                    )
                    next_maintenance = self.last_loop_at + self.ctx.config.maintenance_every_s
                # Before looking for due work: a dead process's leases would hide its
                # claimed events until they run out (two minutes by default).
                await self._guarded(self.leases.reclaim_dead())
                await self._guarded(self.links.hand_back_stranded())
                await self._guarded(self._start_due())
                await self._guarded(self.release_idle())
                await self._sleep(stop)
        finally:
            if maintenance is not None and not maintenance.done():
                maintenance.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await maintenance
            await self.shutdown()

    async def run_until_idle(self, *, maintain: bool = False) -> None:
        """Process every event that is due now, then return (tests drain with this).
        Links whose lease another live worker holds are left due: waiting for them is
        the caller's business, not a busy loop here."""
        if maintain:
            await self.scheduler.maintain()
        while True:
            await self.leases.reclaim_dead()
            await self.links.hand_back_stranded()
            worked = [await self.links.process(link_id) for link_id in await self._due_links()]
            if not any(worked):
                await self.release_idle()
                return

    async def shutdown(self) -> None:
        self._claiming = False
        running = [t for t in self._running.values() if not t.done()]
        if running:
            log.info("engine.draining", rounds=len(running))
            _, pending = await asyncio.wait(running, timeout=self.ctx.config.shutdown_grace_s)
            for task in pending:
                task.cancel()
            for task in pending:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self.clients.close()
        await self.ctx.alerts.close()
        log.info("engine.stopped", worker=self.ctx.worker_id)

    async def _listen(self) -> None:
        """Be woken by an enqueue on any instance (PostgreSQL's LISTEN); the poll stays
        the fallback, and is all there is on SQLite or while the listener is lost."""
        if self._listening is None:
            listening = await self.ctx.db.listen(EVENTS_CHANNEL, self._notified)
        else:
            listening = await self.ctx.db.keep_listening()
        if listening != self._listening and (listening or self._listening is not None):
            if listening:
                log.info("engine.listening", channel=EVENTS_CHANNEL)
            else:
                log.warning(
                    "engine.listen_lost", channel=EVENTS_CHANNEL, poll_s=self.ctx.config.poll_s
                )
        self._listening = listening

    def _notified(self, payload: str) -> None:
        self.ctx.waker.wake(woken_links(payload))

    async def _start_due(self) -> None:
        """Start a round for each due link, at most `max_rounds` running at once. Links
        left out stay due (their events unclaimed, so nothing is lost) and go first next
        time: the order is the one in which this engine last started each link."""
        if not self._claiming:
            return
        running = {link_id for link_id, task in self._running.items() if not task.done()}
        cap = self.ctx.config.max_rounds
        free = math.inf if cap is None else cap - len(running)
        candidates = [link_id for link_id in await self._candidates() if link_id not in running]
        candidates.sort(key=lambda link_id: self._started.get(link_id, 0))
        self._capped = False
        for link_id in candidates:
            if free <= 0:
                self._capped = True
                log.debug("engine.rounds_capped", running=len(running), waiting=len(candidates))
                return
            if not await self.links.ready(link_id):
                continue
            self._starts += 1
            self._started[link_id] = self._starts
            task = asyncio.create_task(self._process(link_id), name=f"link-{link_id}")
            self._running[link_id] = task
            free -= 1

    async def _process(self, link_id: int) -> None:
        worked = False
        try:
            worked = await self.links.process(link_id)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("engine.step_failed")
        # Events that arrived during this round were skipped; look again as soon as it
        # ends rather than at the next poll. Not after a round that could not start (its
        # lease is another worker's): that would spin until the lease is free. Unless
        # links wait for a round slot: this round's end frees one.
        if worked or self._capped:
            self.ctx.waker.wake()

    async def _due_links(self) -> list[int]:
        return [link_id for link_id in await self._candidates() if await self.links.ready(link_id)]

    async def _candidates(self) -> list[int]:
        """Links with claimable work, before their state is looked at."""
        max_sweeps = self.ctx.config.max_sweeps
        if max_sweeps is None:
            candidates = await due_link_ids(self.ctx.db, self.ctx.clock())
        else:
            candidates = await due_link_ids_with_slots(self.ctx.db, max_sweeps, self.ctx.clock())
        return candidates

    async def _sleep(self, stop: asyncio.Event) -> None:
        timeout_s = self.ctx.config.poll_s
        try:
            upcoming = await next_due_at(self.ctx.db)
        except Exception:
            log.exception("engine.queue_unreadable")
            upcoming = None
        # Due work that was not started just now is blocked (its link is in a round, in
        # Setup Required, or another worker holds its lease): a round's end or the webhook
        # wakes us, the poll retries; waking at once would spin on it.
        if upcoming is not None and upcoming > self.ctx.clock():
            timeout_s = min(timeout_s, upcoming - self.ctx.clock())
        stopper = asyncio.create_task(stop.wait())
        waker = asyncio.create_task(self.ctx.waker.wait(timeout_s))
        await asyncio.wait({stopper, waker}, return_when=asyncio.FIRST_COMPLETED)
        for task in (stopper, waker):
            task.cancel()
        await asyncio.gather(stopper, waker, return_exceptions=True)

    async def release_idle(self, idle_s: float | None = None, *, trim_now: bool = False) -> None:
        """Let idle links hold nothing: close their clients and forget their cached
        directories once unused for `idle_s` (the config's `clients_idle_s` unless
        given); after that, or after rounds, hand the freed heap back (worker/heap.py)."""
        idle = self.ctx.config.clients_idle_s if idle_s is None else idle_s
        closed = await self.clients.evict_idle(idle)
        forgotten = self.links.forget_idle_directories(idle)
        if closed or forgotten or self.rounds_run != self._rounds_seen:
            self.heap.freed()
        self._rounds_seen = self.rounds_run
        await self.heap.trim_if_due(force=trim_now)

    async def _guarded(self, work: Awaitable[object]) -> None:
        """The loop must outlive any one failure; log it and go on."""
        try:
            await work
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("engine.step_failed")
