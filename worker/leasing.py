"""The engine's side of the per-link leases: take one, take back a dead holder's, and say
so when a link has to wait for a live one."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

import structlog

from store import Database
from store.leases import (
    LeaseRow,
    acquire_link_lease,
    get_link_lease,
    live_leases,
    note_waiting,
    take_back_lease,
)
from worker.liveness import Verdict, judge, this_process

log = structlog.get_logger("m365sync.lease")


class LeaseKeeper:
    def __init__(
        self,
        db: Database,
        owner: str,
        *,
        lease_s: float,
        beat_s: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.db = db
        self.owner = owner
        self.lease_s = lease_s
        self.beat_s = beat_s
        self.holder = this_process(beat_s)
        self._clock = clock  # the engine's clock, which the event leases follow
        self._waiting: dict[int, float] = {}  # link -> since when this worker waits

    async def acquire(self, link_id: int, link_name: str = "") -> bool:
        """Take the link's lease (or renew it: the heartbeat). A dead holder's lease is
        taken back first; a live holder's is waited for, logged once per wait."""
        if await self.renew(link_id):
            return True
        lease = await get_link_lease(self.db, link_id)
        if lease is not None and await self._take_back_if_dead(lease) and await self.renew(link_id):
            return True
        await self._note_wait(link_id, link_name)
        return False

    async def reclaim_dead(self) -> int:
        """Take back every lease whose holder is provably dead; how many were taken."""
        taken = 0
        for lease in await live_leases(self.db):
            if lease.owner != self.owner and await self._take_back_if_dead(lease):
                taken += 1
        return taken

    async def renew(self, link_id: int) -> bool:
        """Take or renew the lease if it is free, ours, or run out; nothing else."""
        got = await acquire_link_lease(
            self.db, link_id, self.owner, self.lease_s, holder=self.holder
        )
        if got:
            since = self._waiting.pop(link_id, None)
            if since is not None:
                log.info(
                    "lease.free_again",
                    link_id=link_id,
                    waited_s=round(time.time() - since, 1),
                )
        return got

    async def _take_back_if_dead(self, lease: LeaseRow) -> bool:
        verdict = judge(lease, time.time())
        if not verdict.dead:
            return False
        released = await take_back_lease(self.db, lease, self._clock())
        if released is None:
            return False
        holder = lease.holder
        log.warning(
            "lease.taken_back",
            link_id=lease.link_id,
            holder=lease.owner,
            holder_pid=holder.pid if holder else None,
            holder_host=holder.host if holder else None,
            reason="process gone" if verdict is Verdict.GONE else "heartbeat stopped",
            lease_until=_clock_time(lease.until),
            events_released=released,
        )
        return True

    async def _note_wait(self, link_id: int, link_name: str) -> None:
        now = time.time()
        self._waiting.setdefault(link_id, now)
        lease = await note_waiting(self.db, link_id, self.owner, now)
        if lease is None:
            return
        holder = lease.holder
        log.info(
            "lease.waiting",
            link_id=link_id,
            link=link_name,
            holder=lease.owner,
            holder_pid=holder.pid if holder else None,
            holder_host=holder.host if holder else None,
            until=_clock_time(lease.until),
        )


def waiting_text(lease: LeaseRow) -> str:
    """How `status` and the link page say why a link is not moving."""
    return f"waiting for another worker's lease ({_who(lease)}), until {_clock_time(lease.until)}"


def lease_holder_text(lease: LeaseRow) -> str:
    return f"lease held by {_who(lease)} until {_clock_time(lease.until)}"


def _who(lease: LeaseRow) -> str:
    holder = lease.holder
    return f"pid {holder.pid} on host {holder.host}" if holder else lease.owner


def current_wait(lease: LeaseRow | None, now: float | None = None) -> LeaseRow | None:
    """The lease if a worker is waiting for it and it has not run out."""
    now = time.time() if now is None else now
    if lease is None or lease.waiter is None or lease.until <= now:
        return None
    return lease


def _clock_time(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, UTC).strftime("%H:%M UTC")
