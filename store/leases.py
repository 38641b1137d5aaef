"""One round at a time per link, across processes: a lease row per link."""

from __future__ import annotations

import time

from store.db import Database


async def acquire_link_lease(
    db: Database, link_id: int, owner: str, lease_s: float, now: float | None = None
) -> bool:
    """Take (or extend) the link's lease unless someone else holds a live one."""
    now = time.time() if now is None else now
    async with db.atomic() as tx:
        return (
            await tx.rowcount(
                "INSERT INTO link_leases (link_id, owner, until) VALUES (?,?,?)"
                " ON CONFLICT (link_id) DO UPDATE SET owner = excluded.owner,"
                " until = excluded.until WHERE link_leases.owner = excluded.owner"
                " OR link_leases.until <= ?",
                (link_id, owner, now + lease_s, now),
            )
            == 1
        )


async def release_link_lease(db: Database, link_id: int, owner: str) -> None:
    await db.write("DELETE FROM link_leases WHERE link_id = ? AND owner = ?", (link_id, owner))
