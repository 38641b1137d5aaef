"""Run in a child process by the store tests: claims and completes events until none are left,
printing each claimed id on its own line."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from store import SecretBox, open_database
from store.events import claim_events, complete_events
from tests.procs import location


async def claim_all(path: Path | str, key: str, link_id: int, worker_id: str) -> None:
    db = await open_database(path, SecretBox([key.encode()]))
    # A barrier: the parent says "go" once every claimer is ready, so claims overlap.
    print("ready", flush=True)
    await asyncio.to_thread(sys.stdin.readline)
    try:
        while True:
            events = await claim_events(db, link_id, worker_id, lease_s=300, limit=5)
            if not events:
                return
            for event in events:
                print(event.id, flush=True)
            await complete_events(db, [e.id for e in events], worker_id)
    finally:
        await db.close()


if __name__ == "__main__":
    path, key, link, worker = sys.argv[1:5]
    asyncio.run(claim_all(location(path), key, int(link), worker))
