"""A burst of 1,000 users created at once: how many delta rounds the daemon needs and how
long until every extension exists. PBX emulator latency 20 ms per request.
Run: python -m bench.burst
"""

from __future__ import annotations

import asyncio
import time

from bench.stack import running_stack, user
from store.events import queue_stats

USERS = 1000


async def main() -> None:
    async with running_stack(
        pbx_latency_s=0.020, policy={"auto_create": True, "ranges": "2000-3999"}
    ) as stack:
        state = stack.emus.pbx.state
        before = len(state.extensions())
        rounds_before = stack.engine.rounds_run
        started = time.perf_counter()
        for n in range(USERS):
            stack.emus.graph.directory.create_user(**user(n, prefix="burst"))
        created_at = time.perf_counter() - started
        # Polling the emulator's state is the measurement itself.
        while len(state.extensions()) < before + USERS:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        elapsed = time.perf_counter() - started
        while (await queue_stats(stack.db, stack.link.id)).pending:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        await stack.engine.run_until_idle()
        rounds = stack.engine.rounds_run - rounds_before
    print(f"burst benchmark: {USERS} users created at once, PBX latency 20 ms")
    print(f"  directory writes took {created_at:.2f} s")
    print(f"  all {USERS} extensions exist after {elapsed:.1f} s, in {rounds} delta rounds")
    print(f"  ({USERS / elapsed:.0f} extensions/s; a create is 3 PBX requests, 8 in flight)")


if __name__ == "__main__":
    asyncio.run(main())
