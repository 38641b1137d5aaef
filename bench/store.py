"""Event-queue throughput on a real SQLite file and on a real PostgreSQL server.

Prints enqueue throughput (batches of 100 in one transaction each) and claim+complete
throughput (claims of up to 100 events, as the worker coalesces them). SQLite runs in
both `synchronous` modes (aim: >= 20,000 events/s enqueued, >= 5,000 events/s
claimed+completed); PostgreSQL on a throw-away server started like the tests' (Debian's
postgresql; aim: >= 10,000 enqueued/s, >= 3,000 claimed+completed/s), or on
`--url postgresql://...`. Run with `python -m bench.store [--backend sqlite|postgresql|both]`
(or `make bench`, which runs both when PostgreSQL is installed).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import tempfile
import time
from pathlib import Path

from store import Database, SecretBox, generate_key, open_database
from store.events import claim_events, complete_events, enqueue_events
from store.links import create_link
from store.models import AuthMode, NewEvent, NewLink

TOTAL = 20_000
BATCH = 100


async def run_sqlite(synchronous: str) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        db = await Database.open(
            Path(tmp) / "bench.db", SecretBox([generate_key().encode()]), synchronous=synchronous
        )
        return await run(db)


async def run(db: Database) -> tuple[float, float]:
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


async def run_postgresql(url: str | None) -> tuple[float, float]:
    with contextlib.ExitStack() as stack:
        if url is None:
            # The tests' throw-away server (initdb + pg_ctl in a temp directory).
            from tests.pgserver import running_server

            url = stack.enter_context(running_server()).url()
        db = await open_database(url, SecretBox([generate_key().encode()]))
        return await run(db)


def _line(label: str, rates: tuple[float, float]) -> str:
    enqueue_rate, claim_rate = rates
    return (
        f"  {label:<20}  enqueue {enqueue_rate:>10,.0f} events/s"
        f"   claim+complete {claim_rate:>10,.0f} events/s"
    )


async def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.store")
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--url", help="a PostgreSQL database to use (default: a throw-away server)")
    args = parser.parse_args(argv)
    print(f"store benchmark: {TOTAL} events, batches of {BATCH}")
    if args.backend in ("sqlite", "both"):
        for mode in ("full", "normal"):
            print(_line(f"sqlite sync={mode}", await run_sqlite(mode)), flush=True)
    if args.backend in ("postgresql", "both"):
        try:
            rates = await run_postgresql(args.url)
        except Exception as exc:  # a missing server is a line, not a traceback
            if args.backend == "both" and type(exc).__name__ == "PostgresMissing":
                print(f"  postgresql            skipped: {exc}")
                return
            raise
        print(_line("postgresql", rates))


if __name__ == "__main__":
    asyncio.run(main())
