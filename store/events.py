"""The durable event queue.

Events are enqueued in one transaction per batch, claimed per link with a lease,
then completed, or failed with a next-attempt time. A claim whose worker died
becomes claimable again once its lease runs out. An unfinished event is never
deleted: past the attempt cap it is marked `failed`, kept, and can be retried.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from store.db import Database, Row, Transaction
from store.models import Event, EventKind, EventStatus, NewEvent
from store.sweeps import running_sweeps_in

_COLUMNS = (
    "id, link_id, kind, user_id, payload, status, attempts, due_at, lease_until, claimed_by,"
    " last_error, created_at"
)


def _event(row: Row) -> Event:
    return Event(
        id=row["id"],
        link_id=row["link_id"],
        kind=EventKind(row["kind"]),
        user_id=row["user_id"],
        payload=json.loads(row["payload"]),
        status=EventStatus(row["status"]),
        attempts=row["attempts"],
        due_at=row["due_at"],
        lease_until=row["lease_until"],
        claimed_by=row["claimed_by"],
        last_error=row["last_error"],
        created_at=row["created_at"],
    )


async def enqueue_events(db: Database, events: Sequence[NewEvent], now: float | None = None) -> int:
    """Insert all events in one transaction. Returns how many were inserted."""
    if not events:
        return 0
    async with db.atomic() as tx:
        await enqueue_in(tx, events, now)
    return len(events)


# Where an enqueue tells every instance on the database which links have new work now
# (PostgreSQL's NOTIFY; the payload is the link ids, comma-separated).
EVENTS_CHANNEL = "m365sync_events"


def woken_links(payload: str) -> set[int]:
    """The link ids of an EVENTS_CHANNEL payload; anything that is not one is ignored."""
    return {int(part) for part in payload.split(",") if part.isdigit() and len(part) < 19}


async def enqueue_in(tx: Transaction, events: Iterable[NewEvent], now: float | None = None) -> None:
    now = time.time() if now is None else now
    events = list(events)
    # Only work that is due now wakes anyone; a recheck due later is found by the poll.
    due_now = sorted({e.link_id for e in events if e.due_at is None or e.due_at <= now})
    if due_now:
        await tx.notify(EVENTS_CHANNEL, ",".join(map(str, due_now)))
    await tx.executemany(
        "INSERT INTO events (link_id, kind, user_id, payload, due_at, created_at)"
        " VALUES (?,?,?,?,?,?)",
        [
            (
                e.link_id,
                e.kind,
                e.user_id,
                json.dumps(dict(e.payload), separators=(",", ":")),
                now if e.due_at is None else e.due_at,
                now,
            )
            for e in events
        ],
    )


# The advisory lock that makes counting running sweeps and claiming one a single step.
SWEEP_SLOTS_LOCK_KEY = 0x6D3635_0002

_CLAIMABLE = (
    "link_id = :link AND ((status = 'pending' AND due_at <= :now)"
    " OR (status = 'claimed' AND lease_until <= :now))"
)


async def claim_events(
    db: Database,
    link_id: int,
    worker_id: str,
    *,
    lease_s: float,
    now: float | None = None,
    limit: int = 100_000,
    max_running_sweeps: int | None = None,
) -> list[Event]:
    """Atomically claim every due event of one link (coalescing), with a lease.

    The attempt counter goes up at claim time, so an event that keeps killing
    its worker still reaches the cap. With `max_running_sweeps`, a sweep is only
    claimed while fewer sweeps than that are running (store/sweeps.py); otherwise it
    stays queued and the link's other events are claimed without it.
    """
    now = time.time() if now is None else now
    params = {"link": link_id, "now": now, "lease": now + lease_s, "worker": worker_id}
    async with db.atomic() as tx:
        claimable = _CLAIMABLE
        if max_running_sweeps is not None:
            await tx.serialize(SWEEP_SLOTS_LOCK_KEY)
        if max_running_sweeps is not None and (
            await running_sweeps_in(tx, now) >= max_running_sweeps
        ):
            claimable = f"{_CLAIMABLE} AND kind != 'sweep'"
        claimed = await tx.fetchall(
            "UPDATE events SET status = 'claimed', lease_until = :lease, claimed_by = :worker,"
            " attempts = attempts + 1"
            f" WHERE id IN (SELECT id FROM events WHERE {claimable} ORDER BY id LIMIT :limit"
            f"{tx.skip_locked})"
            f" RETURNING {_COLUMNS}",
            {**params, "limit": limit},
        )
    claimed.sort(key=lambda row: row["id"])
    return [_event(r) for r in claimed]


async def complete_events(db: Database, ids: Sequence[int], worker_id: str) -> int:
    async with db.atomic() as tx:
        return await complete_in(tx, ids, worker_id)


async def complete_in(
    tx: Transaction, ids: Sequence[int], worker_id: str, now: float | None = None
) -> int:
    """Mark claimed events done, only if this worker still holds them."""
    now = time.time() if now is None else now
    count = 0
    for chunk in _chunks(ids):
        marks = ",".join("?" * len(chunk))
        count += await tx.rowcount(
            f"UPDATE events SET status = 'done', done_at = ?, lease_until = NULL"
            f" WHERE id IN ({marks}) AND status = 'claimed' AND claimed_by = ?",
            (now, *chunk, worker_id),
        )
    return count


async def fail_events(
    db: Database,
    ids: Sequence[int],
    worker_id: str,
    *,
    error: str,
    retry_at: float,
    max_attempts: int,
) -> int:
    """Give claimed events back: pending again at `retry_at`, or `failed` past the cap."""
    count = 0
    async with db.atomic() as tx:
        for chunk in _chunks(ids):
            marks = ",".join("?" * len(chunk))
            count += await tx.rowcount(
                "UPDATE events SET"
                " status = CASE WHEN attempts >= ? THEN 'failed' ELSE 'pending' END,"
                f" due_at = ?, lease_until = NULL, last_error = ?"
                f" WHERE id IN ({marks}) AND status = 'claimed' AND claimed_by = ?",
                (max_attempts, retry_at, error[:2000], *chunk, worker_id),
            )
    return count


async def release_events(db: Database, ids: Sequence[int], worker_id: str) -> int:
    """Hand claimed events back without counting the attempt (shutdown, setup required)."""
    count = 0
    async with db.atomic() as tx:
        for chunk in _chunks(ids):
            marks = ",".join("?" * len(chunk))
            count += await tx.rowcount(
                "UPDATE events SET status = 'pending', lease_until = NULL,"
                " attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END"
                f" WHERE id IN ({marks})"
                " AND status = 'claimed' AND claimed_by = ?",
                (*chunk, worker_id),
            )
    return count


async def retry_failed(db: Database, link_id: int, now: float | None = None) -> int:
    """Put a link's failed events back in the queue, attempts reset (the admin's retry)."""
    now = time.time() if now is None else now
    async with db.atomic() as tx:
        return await tx.rowcount(
            "UPDATE events SET status = 'pending', attempts = 0, due_at = ?, last_error = NULL"
            " WHERE link_id = ? AND status = 'failed'",
            (now, link_id),
        )


async def due_link_ids(db: Database, now: float | None = None) -> list[int]:
    """Links with at least one claimable event."""
    now = time.time() if now is None else now
    rows = await db.fetchall(
        "SELECT DISTINCT link_id FROM events WHERE (status = 'pending' AND due_at <= ?)"
        " OR (status = 'claimed' AND lease_until <= ?) ORDER BY link_id",
        (now, now),
    )
    return [r["link_id"] for r in rows]


async def next_due_at(db: Database) -> float | None:
    """When the next pending event or lease expiry falls due, if any."""
    row = await db.fetchone(
        "SELECT MIN(t) AS t FROM (SELECT MIN(due_at) AS t FROM events WHERE status = 'pending'"
        " UNION ALL SELECT MIN(lease_until) FROM events WHERE status = 'claimed') AS due"
    )
    return None if row is None else row["t"]


@dataclass(frozen=True, slots=True)
class QueueStats:
    pending: int  # every pending event: due now or scheduled for later (not the next poll)
    claimed: int
    failed: int
    oldest_pending_at: float | None  # created_at of the oldest due or claimed event
    scheduled: int = 0  # pending events due later (rechecks, retries): not work yet
    # The link's next poll (worker/polling.py): the daemon's own timer, not work anyone
    # asked for, so neither "scheduled" nor the age of the queue counts it before it is due.
    polls: int = 0

    @property
    def due(self) -> int:
        """Pending events whose time has come (claimed ones are counted apart)."""
        return self.pending - self.scheduled


async def queue_stats(db: Database, link_id: int, now: float | None = None) -> QueueStats:
    now = time.time() if now is None else now
    row = await db.fetchone(
        "SELECT COUNT(*) FILTER"
        " (WHERE status = 'pending' AND NOT (kind = 'poll' AND due_at > :now)) AS pending,"
        " COUNT(*) FILTER (WHERE status = 'claimed') AS claimed,"
        " COUNT(*) FILTER (WHERE status = 'failed') AS failed,"
        " COUNT(*) FILTER (WHERE status = 'pending' AND due_at > :now AND kind != 'poll')"
        " AS scheduled,"
        " COUNT(*) FILTER (WHERE status = 'pending' AND due_at > :now AND kind = 'poll') AS polls,"
        " MIN(CASE WHEN status = 'claimed' OR (status = 'pending' AND due_at <= :now)"
        " THEN (CASE WHEN kind = 'poll' THEN due_at ELSE created_at END) END) AS oldest"
        " FROM events WHERE link_id = :link AND status != 'done'",
        {"link": link_id, "now": now},
    )
    assert row is not None
    return QueueStats(
        pending=row["pending"] or 0,
        claimed=row["claimed"] or 0,
        failed=row["failed"] or 0,
        oldest_pending_at=row["oldest"],
        scheduled=row["scheduled"] or 0,
        polls=row["polls"] or 0,
    )


async def list_events(
    db: Database, link_id: int, status: EventStatus | None = None, limit: int = 100
) -> list[Event]:
    if status is None:
        rows = await db.fetchall(
            f"SELECT {_COLUMNS} FROM events WHERE link_id = ? ORDER BY id DESC LIMIT ?",
            (link_id, limit),
        )
    else:
        rows = await db.fetchall(
            f"SELECT {_COLUMNS} FROM events WHERE link_id = ? AND status = ?"
            " ORDER BY id DESC LIMIT ?",
            (link_id, status.value, limit),
        )
    return [_event(r) for r in rows]


async def purge_done_events(db: Database, older_than: float) -> int:
    """Finished events are history; only they are ever deleted."""
    async with db.atomic() as tx:
        return await tx.rowcount(
            "DELETE FROM events WHERE status = 'done' AND done_at < ?", (older_than,)
        )


async def purge_done_polls(db: Database, older_than: float) -> int:
    """Finished polls are only a clock: keep each link's newest (when it last polled) and
    none older than `older_than`, so a link polling every 10 s adds no lasting rows."""
    async with db.atomic() as tx:
        return await tx.rowcount(
            "DELETE FROM events WHERE kind = 'poll' AND status = 'done' AND done_at < ?"
            " AND id NOT IN (SELECT MAX(id) FROM events WHERE kind = 'poll'"
            " AND status = 'done' GROUP BY link_id)",
            (older_than,),
        )


def _chunks(ids: Sequence[int], size: int = 500) -> Iterable[Sequence[int]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


async def pending_recheck_users_in(tx: Transaction, link_id: int) -> set[str]:
    """Users of the link that already have a recheck waiting (rechecks coalesce on them)."""
    rows = await tx.fetchall(
        "SELECT DISTINCT user_id FROM events WHERE link_id = ? AND kind = 'recheck'"
        " AND status = 'pending' AND user_id IS NOT NULL",
        (link_id,),
    )
    return {str(r["user_id"]) for r in rows}


async def has_unfinished_event(db: Database, link_id: int, kind: EventKind) -> bool:
    """Whether an event of this kind is already waiting (so schedulers don't pile up)."""
    row = await db.fetchone(
        "SELECT 1 FROM events WHERE link_id = ? AND kind = ? AND status IN ('pending', 'claimed')"
        " LIMIT 1",
        (link_id, kind),
    )
    return row is not None


async def get_events(db: Database, ids: Sequence[int]) -> list[Event]:
    found: list[Event] = []
    for chunk in _chunks(ids):
        rows = await db.fetchall(
            f"SELECT {_COLUMNS} FROM events WHERE id IN ({','.join('?' * len(chunk))}) ORDER BY id",
            tuple(chunk),
        )
        found.extend(_event(r) for r in rows)
    return found


async def extend_claims(db: Database, ids: Sequence[int], worker_id: str, until: float) -> int:
    """Heartbeat: keep the lease on events this worker still holds."""
    count = 0
    async with db.atomic() as tx:
        for chunk in _chunks(ids):
            marks = ",".join("?" * len(chunk))
            count += await tx.rowcount(
                f"UPDATE events SET lease_until = ? WHERE id IN ({marks})"
                " AND status = 'claimed' AND claimed_by = ?",
                (until, *chunk, worker_id),
            )
    return count


async def last_created_at(db: Database, link_id: int, kinds: Sequence[EventKind]) -> float | None:
    """When the newest event of these kinds arrived (e.g. the last notification)."""
    marks = ",".join("?" * len(kinds))
    row = await db.fetchone(
        f"SELECT MAX(created_at) AS at FROM events WHERE link_id = ? AND kind IN ({marks})",
        (link_id, *kinds),
    )
    return float(row["at"]) if row is not None and row["at"] is not None else None


async def last_done_at(db: Database, link_id: int, kind: EventKind) -> float | None:
    """When the newest event of this kind was finished (e.g. the last poll)."""
    row = await db.fetchone(
        "SELECT MAX(done_at) AS at FROM events WHERE link_id = ? AND kind = ? AND status = 'done'",
        (link_id, kind),
    )
    return float(row["at"]) if row is not None and row["at"] is not None else None
