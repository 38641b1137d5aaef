"""Time and peak memory for GraphClient to page through a full delta round.

    .venv/bin/python -m bench.clients_graph [--users N] [--rounds R]

The Graph emulator runs in a child process (`python -m emulators.main`), seeded with
N users (default 100,000), so tracemalloc here sees only the client: the aiohttp
session, the JSON pages and the round's bookkeeping. The consumer counts the users and
keeps nothing, the way the worker streams pages into the store. Tokens come from the
emulator's identity platform through ApplicationTokenProvider, as in production.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

from emulators.tls import client_context
from worker.graph.auth import ApplicationTokenProvider, AuthConfig
from worker.graph.client import GraphClient
from worker.logs import configure_logging

MB = 1024 * 1024


async def start_emulator(
    state_dir: Path, users: int
) -> tuple[asyncio.subprocess.Process, dict[str, Any]]:
    """`python -m emulators.main` prints its connection info as one JSON line when ready."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "emulators.main", "--state-dir", str(state_dir),
        "--users", str(users),
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert process.stdout is not None
    line = await process.stdout.readline()
    if not line:
        raise RuntimeError("the emulator exited before it was ready")
    info: dict[str, Any] = json.loads(line)
    return process, info


async def one_round(client: GraphClient) -> tuple[int, int, float, float, float]:
    """(users, pages, seconds, client CPU seconds, peak MB) for a delta round from scratch."""
    tracemalloc.reset_peak()
    cpu_started = time.process_time()
    started = time.perf_counter()
    delta_round = client.delta_round()
    users = 0
    async for page in delta_round:
        users += len(page)
    elapsed_s = time.perf_counter() - started
    cpu_s = time.process_time() - cpu_started
    _, peak = tracemalloc.get_traced_memory()
    assert delta_round.delta_link
    return users, delta_round.pages_read, elapsed_s, cpu_s, peak / MB


async def run(users: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        process, info = await start_emulator(Path(tmp), users)
        print(f"emulator seeded with {users} users and started in "
              f"{time.perf_counter() - started:.1f} s")  # fmt: skip
        try:
            await measure(info, rounds)
        finally:
            process.terminate()
            await process.wait()


async def measure(info: dict[str, Any], rounds: int) -> None:
    config = AuthConfig(
        info["tenant_id"], info["client_id"], authority_url=info["authority_url"],
        graph_url=info["graph_url"], ca_bundle=info["ca_path"],
    )  # fmt: skip
    tokens = ApplicationTokenProvider(config, client_secret=info["client_secret"])
    try:
        async with GraphClient(
            info["graph_url"], tokens, ssl=client_context(info["ca_path"])
        ) as client:
            await tokens.get_token()  # the token fetch is not part of the round
            tracemalloc.start()
            for number in range(1, rounds + 1):
                count, pages, elapsed_s, cpu_s, peak_mb = await one_round(client)
                print(
                    f"round {number}: {count} users in {pages} pages, {elapsed_s:.2f} s "
                    f"({count / elapsed_s:,.0f} users/s), client CPU {cpu_s:.2f} s, "
                    f"client peak {peak_mb:.1f} MB (tracemalloc)"
                )
            tracemalloc.stop()
    finally:
        await tokens.close()
    max_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"bench process max RSS {max_rss_mb:.0f} MB (interpreter and libraries included)")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    configure_logging("console", level="warning")  # per-request debug lines would swamp the figures
    asyncio.run(run(args.users, args.rounds))


if __name__ == "__main__":
    main()
