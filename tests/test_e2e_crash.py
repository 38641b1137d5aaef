"""A worker process killed with SIGKILL in the middle of a round, then restarted: the PBX
ends up right, no extension is created twice, and no event is lost."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from store.directory import get_bindings
from store.events import queue_stats
from tests.plugins.pipeline import MakeStack, Stack

ROOT = Path(__file__).resolve().parent.parent
USERS = 40


async def _start_worker(stack: Stack) -> asyncio.subprocess.Process:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("M365SYNC_", "PORT"))}
    env.update(
        M365SYNC_DATA_DIR=str(stack.db_path.parent),
        M365SYNC_DATABASE=str(stack.db_path),
        M365SYNC_SECRET_KEY=stack.secret_key,
        M365SYNC_WORKER_LEASE_S="2",
        M365SYNC_WORKER_POLL_S="0.2",
        M365SYNC_LOG_FORMAT="json",
    )
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "cli.cli", "worker",
        env=env, cwd=ROOT,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip


async def _until(predicate: object, timeout_s: float) -> None:
    assert callable(predicate)
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s} s")
        await asyncio.sleep(0.05)


@pytest.mark.slow
async def test_sigkill_mid_round_then_restart(make_stack: MakeStack) -> None:
    """Kill the worker after a few creates; a new worker finishes the job exactly once."""
    stack = await make_stack(pbx_latency_s=0.03)
    await stack.settle()
    for n in range(USERS):
        stack.directory.create_user(
            displayName=f"Crash {n:02d}",
            givenName="Crash",
            surname=f"{n:02d}",
            mail=f"crash{n:02d}@contoso.example",
            userPrincipalName=f"crash{n:02d}@contoso.example",
            accountEnabled=True,
            userType="Member",
        )
    await stack.emus.graph.delivery_idle()

    def created() -> int:
        return len(stack.pbx_state.extensions())

    first = await _start_worker(stack)
    await _until(lambda: created() >= 5, 60)
    first.send_signal(signal.SIGKILL)
    await first.wait()
    killed_at = created()
    assert killed_at < USERS, "the kill should land mid-round"

    second = await _start_worker(stack)
    try:
        await _until(lambda: created() >= USERS, 90)
    finally:
        second.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(second.wait(), 30) == 0

    emails = Counter(a.settings["email_address"] for a in stack.pbx_state.extensions())
    assert len(emails) == USERS
    assert set(emails.values()) == {1}
    assert len(await get_bindings(stack.db, stack.link.id)) == USERS
    stats = await queue_stats(stack.db, stack.link.id)
    assert (stats.pending, stats.claimed, stats.failed) == (0, 0, 0)
