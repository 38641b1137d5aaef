"""PBX writes that failed for good, kept as `failed` events of kind "action".

A write the PBX refused is not lost in a round's statistics: it is counted with the failed
events (`m365sync status`, the admin page, the `m365sync_failed_events` gauge) until a later
write for the same user (or number) succeeds; `m365sync retry-failed` hands it back to the
worker, and a manual resync (command line, admin page) plans that user again.
"""

from __future__ import annotations

import json
from typing import Any

from store.db import Database, Transaction
from store.models import EventKind

ACTION_EVENT = EventKind.ACTION


async def record_failed_action(
    tx: Transaction,
    link_id: int,
    *,
    user_id: str | None,
    number: str | None,
    action: str,
    error: str,
    now: float,
) -> None:
    """One failed event per user (per number for writes without a user); a repeat failure
    updates its error and counts another attempt instead of adding a row."""
    payload = json.dumps({"action": action, "number": number}, separators=(",", ":"))
    if user_id is not None:
        existing = await tx.fetchone(
            "SELECT id FROM events WHERE link_id = ? AND kind = ? AND status = 'failed'"
            " AND user_id = ?",
            (link_id, ACTION_EVENT, user_id),
        )
    else:
        existing = await tx.fetchone(
            "SELECT id FROM events WHERE link_id = ? AND kind = ? AND status = 'failed'"
            " AND user_id IS NULL AND json_extract(payload, '$.number') = ?",
            (link_id, ACTION_EVENT, number),
        )
    if existing is not None:
        await tx.execute(
            "UPDATE events SET last_error = ?, payload = ?, attempts = attempts + 1 WHERE id = ?",
            (error[:2000], payload, existing["id"]),
        )
        return
    await tx.execute(
        "INSERT INTO events (link_id, kind, user_id, payload, status, attempts, due_at,"
        " last_error, created_at) VALUES (?, ?, ?, ?, 'failed', 1, ?, ?, ?)",
        (link_id, ACTION_EVENT, user_id, payload, now, error[:2000], now),
    )


async def resolve_failed_actions(
    tx: Transaction, link_id: int, *, user_id: str | None, number: str | None, now: float
) -> None:
    """A write for this user (or this user-less number) succeeded: its failure is over."""
    where: list[str] = []
    params: list[Any] = [now, link_id, ACTION_EVENT]
    if user_id is not None:
        where.append("user_id = ?")
        params.append(user_id)
    if number is not None:
        where.append("(user_id IS NULL AND json_extract(payload, '$.number') = ?)")
        params.append(number)
    if not where:
        return
    await tx.execute(
        "UPDATE events SET status = 'done', done_at = ? WHERE link_id = ? AND kind = ?"
        f" AND status = 'failed' AND ({' OR '.join(where)})",
        params,
    )


async def failed_action_users(db: Database, link_id: int) -> list[str]:
    """Users whose last write failed for good, for a manual resync to plan again."""
    rows = await db.fetchall(
        "SELECT DISTINCT user_id FROM events WHERE link_id = ? AND kind = ? AND status = 'failed'"
        " AND user_id IS NOT NULL ORDER BY user_id",
        (link_id, ACTION_EVENT),
    )
    return [row["user_id"] for row in rows]
