"""Sweep slots: at most N sweeps claimed at once across every link (and every process
sharing the database), so 500 links first started together do not sweep all at once.

A sweep counts as running while its event is claimed under a live lease. The limit is
enforced where events are claimed (one `BEGIN IMMEDIATE` transaction, so two workers
cannot both take the last slot); `due_link_ids_with_slots` only picks the candidates.
"""

from __future__ import annotations

import time

from store.db import Database, Transaction

_RUNNING = "kind = 'sweep' AND status = 'claimed' AND lease_until > ?"
_DUE = "(status = 'pending' AND due_at <= :now) OR (status = 'claimed' AND lease_until <= :now)"


async def running_sweeps(db: Database, now: float | None = None) -> int:
    now = time.time() if now is None else now
    row = await db.fetchone(f"SELECT COUNT(*) AS n FROM events WHERE {_RUNNING}", (now,))
    return int(row["n"]) if row else 0


async def running_sweeps_in(tx: Transaction, now: float) -> int:
    row = await tx.fetchone(f"SELECT COUNT(*) AS n FROM events WHERE {_RUNNING}", (now,))
    return int(row["n"]) if row else 0


async def due_link_ids_with_slots(
    db: Database, max_sweeps: int, now: float | None = None
) -> list[int]:
    """Links with claimable work: every link with a due event other than a sweep, plus the
    links whose sweep has waited longest, as many as there are free slots. A link whose
    only due work is a sweep without a slot is left out, so the engine does not start a
    round (a lease, a claim) for it on every loop."""
    now = time.time() if now is None else now
    rows = await db.fetchall(
        f"SELECT DISTINCT link_id FROM events WHERE kind != 'sweep' AND ({_DUE})",
        {"now": now},
    )
    links = {int(r["link_id"]) for r in rows}
    free = max_sweeps - await running_sweeps(db, now)
    if free > 0:
        rows = await db.fetchall(
            f"SELECT link_id, MIN(due_at) AS due FROM events WHERE kind = 'sweep' AND ({_DUE})"
            " GROUP BY link_id ORDER BY due, link_id LIMIT :free",
            {"now": now, "free": free},
        )
        links.update(int(r["link_id"]) for r in rows)
    return sorted(links)
