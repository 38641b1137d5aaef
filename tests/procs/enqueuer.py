"""Run in a child process: enqueues batches forever, printing the last committed batch number."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from store import SecretBox, open_database
from store.events import enqueue_events
from store.models import NewEvent
from tests.procs import location


async def enqueue_forever(path: Path | str, key: str, link_id: int) -> None:
    db = await open_database(path, SecretBox([key.encode()]))
    batch = 0
    while True:
        events = [NewEvent(link_id, "notification", f"user-{batch}-{i}") for i in range(10)]
        await enqueue_events(db, events)
        # Printed only after the commit returned: every batch we report is durable.
        print(batch, flush=True)
        batch += 1


if __name__ == "__main__":
    asyncio.run(enqueue_forever(location(sys.argv[1]), sys.argv[2], int(sys.argv[3])))
