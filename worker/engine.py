"""The worker engine: claims events per link, runs rounds, schedules sweeps and keeps
subscriptions alive, until told to stop.

One round at a time per link (an asyncio lock here, a lease row across processes);
links run concurrently. Shutdown is three steps: stop claiming, give running rounds a
grace period, cancel what is left (their events are handed back, not lost).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog

from store import Database
from store.events import due_link_ids, next_due_at
from worker.alerts import Alerts
from worker.leasing import LeaseKeeper
from worker.linkctx import LinkClients, open_link_clients
from worker.linkwork import LinkWorker
from worker.mail import alerts_from_settings
from worker.metrics import WORKER_HEARTBEAT
from worker.scheduler import Scheduler
from worker.settings import Settings
from worker.wake import Waker

log = structlog.get_logger("m365sync.engine")


@dataclass(frozen=True, slots=True)
class EngineConfig:
    lease_s: float = 120.0
    max_attempts: int = 8
    retry_base_s: float = 5.0
    retry_max_s: float = 900.0
    poll_s: float = 2.0
    maintenance_every_s: float = 60.0
    recheck_delays_s: tuple[float, ...] = (5.0, 15.0, 40.0)
    shutdown_grace_s: float = 20.0
    apply_concurrency: int = 8
    # How often a running round renews its link lease; another host takes the lease back
    # after a few missed beats (worker/liveness.py), so this is kept well under lease_s.
    heartbeat_s: float = 5.0

    @property
    def beat_s(self) -> float:
        return min(self.heartbeat_s, self.lease_s / 3)

    @classmethod
    def from_settings(cls, settings: Settings) -> EngineConfig:
        return cls(lease_s=settings.worker_lease_s, poll_s=settings.worker_poll_s)


class Engine:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        *,
        waker: Waker | None = None,
        config: EngineConfig | None = None,
        alerts: Alerts | None = None,
        clients_factory: Callable[..., Awaitable[LinkClients]] = open_link_clients,
        clock: Callable[[], float] = time.time,
        worker_id: str | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.config = config or EngineConfig.from_settings(settings)
        self.waker = waker or Waker()
        self.alerts = alerts or Alerts()
        self.clock = clock
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self.leases = LeaseKeeper(
            db, self.worker_id, lease_s=self.config.lease_s, beat_s=self.config.beat_s, clock=clock
        )
        self.links = LinkWorker(self, clients_factory)
        self.scheduler = Scheduler(self)
        self._running: dict[int, asyncio.Task[None]] = {}
        self._claiming = True
        self.last_loop_at = 0.0
        self.rounds_run = 0

    async def run(self, stop: asyncio.Event) -> None:
        """Work until `stop` is set, then shut down in three steps."""
        log.info("engine started", worker=self.worker_id)
        next_maintenance = 0.0
        try:
            while not stop.is_set():
                self.last_loop_at = self.clock()
                WORKER_HEARTBEAT.set(self.last_loop_at)
                if self.last_loop_at >= next_maintenance:
                    await self._guarded(self.scheduler.maintain())
                    next_maintenance = self.last_loop_at + self.config.maintenance_every_s
                # Before looking for due work: a dead process's leases would hide its
                # claimed events until they run out (two minutes by default).
                await self._guarded(self.leases.reclaim_dead())
                await self._guarded(self._start_due())
                await self._sleep(stop)
        finally:
            await self.shutdown()

    async def run_until_idle(self, *, maintain: bool = False) -> None:
        """Process every event that is due now, then return (tests drain with this).
        Links whose lease another live worker holds are left due: waiting for them is
        the caller's business, not a busy loop here."""
        if maintain:
            await self.scheduler.maintain()
        while True:
            await self.leases.reclaim_dead()
            worked = [await self.links.process(link_id) for link_id in await self._due_links()]
            if not any(worked):
                return

    async def shutdown(self) -> None:
        self._claiming = False
        running = [t for t in self._running.values() if not t.done()]
        if running:
            log.info("waiting for rounds to finish", rounds=len(running))
            _, pending = await asyncio.wait(running, timeout=self.config.shutdown_grace_s)
            for task in pending:
                task.cancel()
            for task in pending:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self.links.close()
        await self.alerts.close()
        log.info("engine stopped", worker=self.worker_id)

    async def _start_due(self) -> None:
        for link_id in await self._due_links():
            task = self._running.get(link_id)
            if self._claiming and (task is None or task.done()):
                task = asyncio.create_task(self._process(link_id), name=f"link-{link_id}")
                self._running[link_id] = task

    async def _process(self, link_id: int) -> None:
        worked = False
        try:
            worked = await self.links.process(link_id)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("engine step failed")
        # Events that arrived during this round were skipped; look again as soon as it
        # ends rather than at the next poll. Not after a round that could not start (its
        # lease is another worker's): that would spin until the lease is free.
        if worked:
            self.waker.wake()

    async def _due_links(self) -> list[int]:
        due = []
        for link_id in await due_link_ids(self.db, self.clock()):
            if await self.links.ready(link_id):
                due.append(link_id)
        return due

    async def _sleep(self, stop: asyncio.Event) -> None:
        timeout_s = self.config.poll_s
        try:
            upcoming = await next_due_at(self.db)
        except Exception:
            log.exception("cannot read the queue")
            upcoming = None
        # Due work that was not started just now is blocked (its link is in a round, in
        # Setup Required, or another worker holds its lease): a round's end or the webhook
        # wakes us, the poll retries; waking at once would spin on it.
        if upcoming is not None and upcoming > self.clock():
            timeout_s = min(timeout_s, upcoming - self.clock())
        stopper = asyncio.create_task(stop.wait())
        waker = asyncio.create_task(self.waker.wait(timeout_s))
        await asyncio.wait({stopper, waker}, return_when=asyncio.FIRST_COMPLETED)
        for task in (stopper, waker):
            task.cancel()
        await asyncio.gather(stopper, waker, return_exceptions=True)

    async def _guarded(self, work: Awaitable[object]) -> None:
        """The loop must outlive any one failure; log it and go on."""
        try:
            await work
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("engine step failed")


async def run_engine(
    db: Database, settings: Settings, stop: asyncio.Event, **kwargs: object
) -> None:
    """Entry point for `m365sync worker` (`serve` builds its Engine in webhook/app.py)."""
    kwargs.setdefault("alerts", alerts_from_settings(settings, db))
    engine = Engine(db, settings, **kwargs)  # type: ignore[arg-type]
    await engine.run(stop)
