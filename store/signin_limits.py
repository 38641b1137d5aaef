"""Failed sign-ins, one row each, counted per client address and per account in a sliding
window by every instance on the database.

The key is stored as a SHA-256 hash: people type passwords into the user-name field, and the
table needs only equality.
"""

from __future__ import annotations

import hashlib

from store.db import Database


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


async def nth_recent_failure(
    db: Database, scope: str, key: str, *, since: float, nth: int
) -> float | None:
    """When the `nth` most recent failure after `since` happened; None if there are fewer."""
    row = await db.fetchone(
        "SELECT at FROM signin_failures WHERE scope = ? AND key_hash = ? AND at > ?"
        " ORDER BY at DESC LIMIT 1 OFFSET ?",
        (scope, key_hash(key), since, max(0, nth - 1)),
    )
    return None if row is None else float(row["at"])


async def add_failure(
    db: Database, keys: list[tuple[str, str]], *, now: float, purge_before: float
) -> None:
    """Count one failure under each (scope, key); rows older than any window go."""
    async with db.atomic() as tx:
        await tx.execute("DELETE FROM signin_failures WHERE at <= ?", (purge_before,))
        await tx.executemany(
            "INSERT INTO signin_failures (scope, key_hash, at) VALUES (?, ?, ?)",
            [(scope, key_hash(key), now) for scope, key in keys],
        )


async def clear_failures(db: Database, scope: str, key: str) -> None:
    await db.write(
        "DELETE FROM signin_failures WHERE scope = ? AND key_hash = ?", (scope, key_hash(key))
    )
