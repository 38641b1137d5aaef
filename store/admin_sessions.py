"""The admin page's sessions and OAuth round trips, shared by every instance on the database.

Rows are keyed by a SHA-256 hash of the session token (and of a flow's `state`), never the
value itself: someone reading the database or a backup cannot sign in with it. The CSRF
secret, the pending setup (it holds MSAL token caches) and a flow's data (MSAL's flow dict
holds the PKCE verifier) are encrypted with the store's SecretBox. Expiry is part of every
read's WHERE clause, so an expired row is never used even before it is purged.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from store.db import Database, Row

PendingData = dict[str, dict[str, Any]]  # link id (as text) -> the pending setup's fields
FlashData = list[tuple[str, str]]  # (kind, message)
StateMerge = Callable[[PendingData, FlashData], tuple[PendingData, FlashData]]


@dataclass(frozen=True, slots=True)
class StoredSession:
    id_hash: str
    csrf: str
    username: str
    link_ids: frozenset[int] | None
    created_at: float
    last_seen: float
    pending: PendingData
    flash: FlashData


@dataclass(frozen=True, slots=True)
class StoredFlow:
    session_hash: str
    link_id: int
    kind: str
    data: dict[str, Any]
    created_at: float
    # The admin origin to return to when the callback lands on the public listener.
    origin: str = ""


async def create_session(
    db: Database,
    *,
    id_hash: str,
    csrf: str,
    username: str,
    link_ids: frozenset[int] | None,
    now: float,
    expired_before: tuple[float, float],
    max_sessions: int,
) -> None:
    """Insert a session; first purge expired ones (`expired_before`: last seen before, created
    before) and, at `max_sessions`, the least recently seen."""
    idle_before, absolute_before = expired_before
    links = None if link_ids is None else json.dumps(sorted(link_ids))
    async with db.atomic() as tx:
        await tx.execute(
            "DELETE FROM admin_sessions WHERE last_seen <= ? OR created_at <= ?",
            (idle_before, absolute_before),
        )
        row = await tx.fetchone("SELECT COUNT(*) AS n FROM admin_sessions")
        excess = (int(row["n"]) if row else 0) - max_sessions + 1
        if excess > 0:
            await tx.execute(
                "DELETE FROM admin_sessions WHERE id_hash IN ("
                " SELECT id_hash FROM admin_sessions ORDER BY last_seen LIMIT ?)",
                (excess,),
            )
        await tx.execute(
            "INSERT INTO admin_sessions"
            " (id_hash, csrf, username, link_ids, created_at, last_seen, pending, flash)"
            " VALUES (?, ?, ?, ?, ?, ?, NULL, '[]')",
            (id_hash, db.box.encrypt_text(csrf), username, links, now, now),
        )


async def load_session(
    db: Database, id_hash: str, *, idle_before: float, absolute_before: float
) -> StoredSession | None:
    """The session, if it was seen after `idle_before` and created after `absolute_before`."""
    row = await db.fetchone(
        "SELECT * FROM admin_sessions WHERE id_hash = ? AND last_seen > ? AND created_at > ?",
        (id_hash, idle_before, absolute_before),
    )
    return None if row is None else _session(db, row)


async def touch_session(db: Database, id_hash: str, now: float) -> None:
    await db.write(
        "UPDATE admin_sessions SET last_seen = ? WHERE id_hash = ? AND last_seen < ?",
        (now, id_hash, now),
    )


async def delete_session(db: Database, id_hash: str) -> None:
    """Sign-out: the session and its flows in flight (ON DELETE CASCADE) are gone."""
    async with db.atomic() as tx:
        await tx.execute("DELETE FROM admin_flows WHERE session_hash = ?", (id_hash,))
        await tx.execute("DELETE FROM admin_sessions WHERE id_hash = ?", (id_hash,))


async def update_session_state(db: Database, id_hash: str, merge: StateMerge) -> None:
    """Read, merge and write the session's pending setup and flashes in one transaction, so
    concurrent requests of one session (maybe on two instances) do not lose each other's."""
    async with db.atomic() as tx:
        row = await tx.fetchone(
            "SELECT pending, flash FROM admin_sessions WHERE id_hash = ?", (id_hash,)
        )
        if row is None:  # signed out meanwhile
            return
        pending, flash = merge(_pending(db, row["pending"]), _flash(row["flash"]))
        blob = db.box.encrypt_text(json.dumps(pending)) if pending else None
        await tx.execute(
            "UPDATE admin_sessions SET pending = ?, flash = ? WHERE id_hash = ?",
            (blob, json.dumps(flash), id_hash),
        )


async def put_flow(
    db: Database,
    *,
    state_hash: str,
    session_hash: str,
    link_id: int,
    kind: str,
    data: dict[str, Any],
    now: float,
    expired_before: float,
    origin: str = "",
) -> None:
    async with db.atomic() as tx:
        await tx.execute("DELETE FROM admin_flows WHERE created_at <= ?", (expired_before,))
        await tx.execute(
            "INSERT INTO admin_flows"
            " (state_hash, session_hash, link_id, kind, data, created_at, origin)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                state_hash,
                session_hash,
                link_id,
                kind,
                db.box.encrypt_text(json.dumps(data)),
                now,
                origin,
            ),
        )


async def take_flow(db: Database, state_hash: str, *, created_after: float) -> StoredFlow | None:
    """The flow, removed: of two instances taking one state at once only one gets it (the
    one whose DELETE removed the row)."""
    async with db.atomic() as tx:
        row = await tx.fetchone(
            "SELECT * FROM admin_flows WHERE state_hash = ? AND created_at > ?",
            (state_hash, created_after),
        )
        removed = await tx.rowcount("DELETE FROM admin_flows WHERE state_hash = ?", (state_hash,))
    if row is None or removed != 1:
        return None
    data = json.loads(db.box.decrypt_text(row["data"], what="an admin sign-in flow"))
    return StoredFlow(
        row["session_hash"],
        int(row["link_id"]),
        row["kind"],
        data,
        float(row["created_at"]),
        row["origin"],
    )


def _session(db: Database, row: Row) -> StoredSession:
    raw_links = row["link_ids"]
    links = None if raw_links is None else frozenset(int(i) for i in json.loads(raw_links))
    return StoredSession(
        id_hash=row["id_hash"],
        csrf=db.box.decrypt_text(row["csrf"], what="an admin session"),
        username=row["username"],
        link_ids=links,
        created_at=float(row["created_at"]),
        last_seen=float(row["last_seen"]),
        pending=_pending(db, row["pending"]),
        flash=_flash(row["flash"]),
    )


def _pending(db: Database, blob: bytes | None) -> PendingData:
    if blob is None:
        return {}
    data = json.loads(db.box.decrypt_text(blob, what="an admin session"))
    return data if isinstance(data, dict) else {}


def _flash(text: str) -> FlashData:
    return [(str(kind), str(message)) for kind, message in json.loads(text or "[]")]
