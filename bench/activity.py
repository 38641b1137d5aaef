"""The Activity page's queries at 100,000 audit rows on a real SQLite file.

Prints the time of the first page (201 rows: 200 shown and one to know there are more),
a page deep in the trail (keyset: `before_id`), a filter on a rare action, a text search,
and the CSV's read of every row. Aim: a page under 10 ms, the full read under 2 s.
Run with `python -m bench.activity` (or `make bench`).
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from store import Database, SecretBox, generate_key
from store.links import create_link
from store.models import AuditEntry, AuthMode, NewLink
from store.records import add_audit, list_audit

ROWS = 100_000
REPEAT = 20


def entries(link_id: int) -> list[AuditEntry]:
    rows = [
        AuditEntry(
            link_id=link_id,
            action="update",
            outcome="ok",
            trigger="sweep",
            user_id=f"user-{i % 5000}",
            number=str(200 + i % 800),
            before={"display_name": f"Name{i}"},
            after={"display_name": f"Name{i + 1}"},
            reason="fields_changed: changed in Microsoft 365",
            at=1_700_000_000.0 + i,
        )
        for i in range(ROWS)
    ]
    rows[10] = AuditEntry(link_id=link_id, action="sign-out", outcome="ok", trigger="admin")
    return rows


async def timed(label: str, work: Callable[[], Awaitable[Any]], repeat: int = REPEAT) -> None:
    start = time.perf_counter()
    for _ in range(repeat):
        result = await work()
    ms = (time.perf_counter() - start) * 1000 / repeat
    print(f"  {label:<34} {ms:8.2f} ms  ({len(result)} rows)")


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db = await Database.open(Path(tmp) / "bench.db", SecretBox([generate_key().encode()]))
        link = await create_link(
            db, NewLink("bench", "t", "c", AuthMode.APPLICATION, "http://pbx", "d", "admin@d")
        )
        async with db.atomic() as tx:
            await add_audit(tx, entries(link.id))
        print(f"activity benchmark: {ROWS} audit rows, one link, SQLite file in WAL mode")
        await timed("first page", lambda: list_audit(db, link.id, limit=201))
        await timed(
            "page at row 90,000 (keyset)",
            lambda: list_audit(db, link.id, limit=201, before_id=10_000),
        )
        await timed(
            "rare action (1 row, oldest)", lambda: list_audit(db, link.id, action="sign-out")
        )
        await timed("text search (number 777)", lambda: list_audit(db, link.id, text="777"))
        await timed("CSV read, every row", lambda: list_audit(db, link.id, limit=ROWS), repeat=2)
        await db.close()


if __name__ == "__main__":
    asyncio.run(main())
