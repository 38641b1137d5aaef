"""A worker process killed with SIGKILL in the middle of a round, then restarted: the PBX
ends up right, no extension is created twice, and no event is lost; the restarted process
takes back the dead one's lease at once instead of waiting for it to run out."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import time
from collections import Counter
from collections.abc import Awaitable
from pathlib import Path

import pytest

from store.directory import get_bindings
from store.events import queue_stats
from store.leases import get_link_lease
from tests.plugins.pipeline import MakeStack, Stack

ROOT = Path(__file__).resolve().parent.parent
USERS = 40


async def _start_worker(
    stack: Stack, command: str = "worker", **env_extra: str
) -> asyncio.subprocess.Process:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("M365SYNC_", "PORT"))}
    env.update(
        M365SYNC_DATA_DIR=str(stack.db_path.parent),
        M365SYNC_DATABASE=str(stack.db_path),
        M365SYNC_SECRET_KEY=stack.secret_key,
        M365SYNC_LOG_FORMAT="json",
    )
    env.update(env_extra or {"M365SYNC_WORKER_LEASE_S": "2", "M365SYNC_WORKER_POLL_S": "0.2"})
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "cli.cli", command,
        env=env, cwd=ROOT,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


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


@pytest.mark.slow
@pytest.mark.parametrize("command", ["worker", "serve"])
async def test_restart_after_sigkill_takes_back_the_lease_at_once(
    make_stack: MakeStack, command: str
) -> None:
    """With the default 120 s lease, the restarted process resumes within 10 s: the dead
    process's link lease and event claims are taken back, not waited out."""
    stack = await make_stack(pbx_latency_s=0.03)
    await stack.settle()
    for n in range(USERS):
        stack.directory.create_user(
            displayName=f"Restart {n:02d}",
            givenName="Restart",
            surname=f"{n:02d}",
            mail=f"restart{n:02d}@contoso.example",
            userPrincipalName=f"restart{n:02d}@contoso.example",
            accountEnabled=True,
            userType="Member",
        )
    await stack.emus.graph.delivery_idle()

    def created() -> int:
        return len(stack.pbx_state.extensions())

    def start() -> Awaitable[asyncio.subprocess.Process]:
        # The lease and the poll interval are the defaults (120 s and 2 s).
        return _start_worker(stack, command, M365SYNC_LISTEN=f"127.0.0.1:{_free_port()}")

    first = await start()
    await _until(lambda: created() >= 5, 60)
    first.send_signal(signal.SIGKILL)
    await first.wait()
    killed_at = created()
    assert killed_at < USERS, "the kill should land mid-round"
    lease = await get_link_lease(stack.db, stack.link.id)
    assert lease is not None and lease.until > time.time() + 60, "the dead lease is still live"

    restarted = time.monotonic()
    second = await start()
    try:
        # Resumed: the new process claimed the dead one's events (a PBX write still in
        # flight at the kill could land later and must not count as a resume).
        mine = f"{socket.gethostname()}:{second.pid}:%"
        while not await stack.db.fetchone("SELECT 1 FROM events WHERE claimed_by LIKE ?", (mine,)):
            assert time.monotonic() - restarted < 10, "no work resumed within 10 s"
            await asyncio.sleep(0.05)
        resumed_s = time.monotonic() - restarted
        await _until(lambda: created() >= USERS, 90)
    finally:
        second.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(second.wait(), 30) == 0
    print(f"{command}: restart to resume {resumed_s:.2f} s")

    emails = Counter(a.settings["email_address"] for a in stack.pbx_state.extensions())
    assert len(emails) == USERS
    assert set(emails.values()) == {1}
    stats = await queue_stats(stack.db, stack.link.id)
    assert (stats.pending, stats.claimed, stats.failed) == (0, 0, 0)
