"""Run in a child process: takes a link's lease as this process, says "held", and keeps it
(renewing on a heartbeat) until stdin closes or the process is killed."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from store import SecretBox, open_database
from store.leases import acquire_link_lease, release_link_lease
from tests.procs import location
from worker.liveness import this_process

BEAT_S = 0.5


async def hold(path: Path | str, key: str, link_id: int, owner: str) -> None:
    db = await open_database(path, SecretBox([key.encode()]))
    holder = this_process(BEAT_S)
    try:
        if not await acquire_link_lease(db, link_id, owner, 120.0, holder=holder):
            print("busy", flush=True)
            return
        print("held", flush=True)
        done = asyncio.ensure_future(asyncio.to_thread(sys.stdin.readline))
        while not done.done():
            await asyncio.wait({done}, timeout=BEAT_S)
            await acquire_link_lease(db, link_id, owner, 120.0, holder=holder)
        await release_link_lease(db, link_id, owner)
    finally:
        await db.close()


if __name__ == "__main__":
    path, key, link, owner = sys.argv[1:5]
    asyncio.run(hold(location(path), key, int(link), owner))
