"""A child process that migrates an empty store the way `m365sync` does at start, after a
barrier, and prints the names of the steps it applied itself (one JSON list)."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import aiosqlite
import asyncpg

from store.migrations import apply_migrations
from store.pg import apply_pg_migrations
from tests.procs import location


async def migrate(where: Path | str) -> list[str]:
    print("ready", flush=True)
    await asyncio.to_thread(sys.stdin.readline)
    if isinstance(where, str):
        pool = await asyncpg.create_pool(where, min_size=1, max_size=1)
        try:
            return await apply_pg_migrations(pool)
        finally:
            await pool.close()
    async with aiosqlite.connect(where, timeout=30) as conn:
        return await apply_migrations(conn)


if __name__ == "__main__":
    print(json.dumps(asyncio.run(migrate(location(sys.argv[1])))), flush=True)
