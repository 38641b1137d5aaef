"""One round at a time per link, across processes: a lease row per link.

The row also says who holds it (host, pid, process start, heartbeat), so that a
restarted daemon can take back the lease of a holder that provably died instead of
waiting for it to run out (the judging is in worker/liveness.py), and who is waiting
for it, so `status` and the link page can say why a link is not moving.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from store.db import Database, Row

_COLUMNS = (
    "link_id, owner, until, host, host_key, pid, pid_start, beat_s, beat_at, waiter, waiting_since"
)


@dataclass(frozen=True, slots=True)
class LeaseHolder:
    """The process holding a lease. `beat_s`: how often it renews; None if it does not."""

    host: str
    host_key: str
    pid: int
    pid_start: int | None
    beat_s: float | None = None


@dataclass(frozen=True, slots=True)
class LeaseRow:
    link_id: int
    owner: str
    until: float
    holder: LeaseHolder | None  # None: written before holders were recorded
    beat_at: float | None
    waiter: str | None
    waiting_since: float | None


def _row(row: Row) -> LeaseRow:
    holder = None
    if row["pid"] is not None:
        holder = LeaseHolder(
            host=row["host"] or "",
            host_key=row["host_key"] or "",
            pid=row["pid"],
            pid_start=row["pid_start"],
            beat_s=row["beat_s"],
        )
    return LeaseRow(
        link_id=row["link_id"],
        owner=row["owner"],
        until=row["until"],
        holder=holder,
        beat_at=row["beat_at"],
        waiter=row["waiter"],
        waiting_since=row["waiting_since"],
    )


async def acquire_link_lease(
    db: Database,
    link_id: int,
    owner: str,
    lease_s: float,
    now: float | None = None,
    *,
    holder: LeaseHolder | None = None,
) -> bool:
    """Take (or extend, which is also the heartbeat) the link's lease unless someone else
    holds a live one."""
    now = time.time() if now is None else now
    h = holder
    async with db.atomic() as tx:
        return (
            await tx.rowcount(
                "INSERT INTO link_leases (link_id, owner, until, host, host_key, pid, pid_start,"
                " beat_s, beat_at) VALUES (?,?,?,?,?,?,?,?,?)"
                " ON CONFLICT (link_id) DO UPDATE SET owner = excluded.owner,"
                " until = excluded.until, host = excluded.host, host_key = excluded.host_key,"
                " pid = excluded.pid, pid_start = excluded.pid_start, beat_s = excluded.beat_s,"
                " beat_at = excluded.beat_at,"
                " waiter = CASE WHEN link_leases.waiter = excluded.owner THEN NULL"
                " ELSE link_leases.waiter END,"
                " waiting_since = CASE WHEN link_leases.waiter = excluded.owner THEN NULL"
                " ELSE link_leases.waiting_since END"
                " WHERE link_leases.owner = excluded.owner OR link_leases.until <= ?",
                (
                    link_id,
                    owner,
                    now + lease_s,
                    h.host if h else None,
                    h.host_key if h else None,
                    h.pid if h else None,
                    h.pid_start if h else None,
                    h.beat_s if h else None,
                    now if h else None,
                    now,
                ),
            )
            == 1
        )


async def release_link_lease(db: Database, link_id: int, owner: str) -> None:
    await db.write("DELETE FROM link_leases WHERE link_id = ? AND owner = ?", (link_id, owner))


async def get_link_lease(db: Database, link_id: int) -> LeaseRow | None:
    row = await db.fetchone(f"SELECT {_COLUMNS} FROM link_leases WHERE link_id = ?", (link_id,))
    return None if row is None else _row(row)


async def live_leases(db: Database, now: float | None = None) -> list[LeaseRow]:
    """Every lease that has not run out yet."""
    now = time.time() if now is None else now
    rows = await db.fetchall(
        f"SELECT {_COLUMNS} FROM link_leases WHERE until > ? ORDER BY link_id", (now,)
    )
    return [_row(r) for r in rows]


async def note_waiting(db: Database, link_id: int, waiter: str, now: float) -> LeaseRow | None:
    """Record that `waiter` waits for the link's lease. Returns the lease when this starts
    a wait (so it is logged once per wait, not per poll), None if already noted or free."""
    current = await get_link_lease(db, link_id)
    if current is None or current.owner == waiter or current.waiter == waiter:
        return None
    async with db.atomic() as tx:
        row = await tx.fetchone(
            "UPDATE link_leases SET waiter = ?, waiting_since = ? WHERE link_id = ?"
            " AND owner = ? AND until > ? AND waiter IS DISTINCT FROM ?"
            f" RETURNING {_COLUMNS}",
            (waiter, now, link_id, current.owner, now, waiter),
        )
    return None if row is None else _row(row)


async def take_back_lease(db: Database, lease: LeaseRow, now: float | None = None) -> int | None:
    """End a dead holder's lease and make the events it had claimed on that link
    claimable at once (their attempt stays counted). Returns how many events came
    back, or None if the row changed meanwhile (the holder renewed it, or someone else
    already took it back)."""
    now = time.time() if now is None else now
    async with db.atomic() as tx:
        gone = await tx.rowcount(
            "DELETE FROM link_leases WHERE link_id = ? AND owner = ? AND until = ?",
            (lease.link_id, lease.owner, lease.until),
        )
        if gone != 1:
            return None
        return await tx.rowcount(
            "UPDATE events SET lease_until = ? WHERE link_id = ? AND status = 'claimed'"
            " AND claimed_by = ? AND lease_until > ?",
            (now, lease.link_id, lease.owner, now),
        )
