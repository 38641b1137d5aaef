"""Event-queue throughput on a real SQLite file.

Prints enqueue throughput (batches of 100 in one transaction each) and claim+complete
throughput (claims of up to 100 events, as the worker coalesces them), for both
`synchronous` modes. Aim: >= 20,000 events/s enqueued, >= 5,000 events/s claimed+completed.
Run with `python -m bench.store` (or `make bench`).
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

from store import Database, SecretBox, generate_key
from store.events import claim_events, complete_events, enqueue_events
from store.links import create_link
from store.models import AuthMode, NewEvent, NewLink

TOTAL = 20_000
BATCH = 100


async def run(synchronous: str) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        db = await Database.open(
            Path(tmp) / "bench.db", SecretBox([generate_key().encode()]), synchronous=synchronous
        )
        link = await create_link(
            db,
            NewLink("bench", "t", "c", AuthMode.APPLICATION, "http://pbx", "d", "admin@d"),
        )
        batches = [
            [
                NewEvent(link.id, "notification", f"u{b}-{i}", {"resource": f"Users/{b}-{i}"})
                for i in range(BATCH)
            ]
            for b in range(TOTAL // BATCH)
        ]
        start = time.perf_counter()
        for batch in batches:
            await enqueue_events(db, batch)
        enqueue_rate = TOTAL / (time.perf_counter() - start)

        start = time.perf_counter()
        done = 0
        while True:
            events = await claim_events(db, link.id, "bench", lease_s=60, limit=BATCH)
            if not events:
                break
            done += await complete_events(db, [e.id for e in events], "bench")
        claim_rate = done / (time.perf_counter() - start)
        assert done == TOTAL, done
        await db.close()
    return enqueue_rate, claim_rate


async def main() -> None:
    print(f"store benchmark: {TOTAL} events, batches of {BATCH}, SQLite file in WAL mode")
    for mode in ("full", "normal"):
        enqueue_rate, claim_rate = await run(mode)
        print(
            f"  synchronous={mode:<6}  enqueue {enqueue_rate:>10,.0f} events/s"
            f"   claim+complete {claim_rate:>10,.0f} events/s"
        )


if __name__ == "__main__":
    asyncio.run(main())
