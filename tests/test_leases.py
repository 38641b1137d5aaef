"""Per-link leases across processes: a provably dead holder's lease (and its claimed events)
is taken back at once, a live one is never taken, and a wait is logged once and shown."""

from __future__ import annotations

import asyncio
import dataclasses
import html
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from structlog.testing import capture_logs

from cli.commands.status import status_of as cli_status
from store.events import claim_events, list_events
from store.leases import LeaseHolder, LeaseRow, acquire_link_lease, get_link_lease
from store.models import EventStatus
from tests.plugins.pipeline import MakeStack, Stack, graph_user
from tests.test_admin_security import _sign_in
from worker.context import EngineConfig
from worker.liveness import STALE_BEATS, Verdict, host_key, judge, start_ticks, this_process
from worker.operations import LinkBusy, link_lease

ROOT = Path(__file__).resolve().parent.parent


def _row(holder: LeaseHolder | None, beat_at: float | None = None) -> LeaseRow:
    return LeaseRow(1, "someone", time.time() + 120, holder, beat_at, None, None)


def _exited_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


# --- judging a holder -----------------------------------------------------------------


def test_this_process_is_alive_and_a_reused_pid_is_not_the_holder() -> None:
    me = this_process()
    assert me.pid == os.getpid() and me.host == socket.gethostname() and me.host_key
    assert judge(_row(me), time.time()) is Verdict.ALIVE
    # Same pid, another start time: the kernel gave the pid to a new process.
    reused = dataclasses.replace(me, pid_start=(me.pid_start or 0) + 1)
    assert judge(_row(reused), time.time()) is Verdict.GONE


def test_a_gone_or_zombie_process_on_this_host_is_dead() -> None:
    gone = dataclasses.replace(this_process(), pid=_exited_pid())
    assert judge(_row(gone), time.time()) is Verdict.GONE
    zombie = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        # Wait for it to exit without reaping it: it stays a zombie with a /proc entry.
        os.waitid(os.P_PID, zombie.pid, os.WEXITED | os.WNOWAIT)
        assert Path(f"/proc/{zombie.pid}/stat").exists()
        assert start_ticks(zombie.pid) is None
    finally:
        zombie.wait()


def test_another_host_is_judged_by_its_heartbeat_only() -> None:
    now = time.time()
    # Its pid may well exist here: that says nothing about a process on another host.
    elsewhere = LeaseHolder("other", "another-boot/pid:[1]", os.getpid(), 1, beat_s=5.0)
    assert judge(_row(elsewhere, beat_at=now - 1), now) is Verdict.ALIVE
    assert judge(_row(elsewhere, beat_at=now - STALE_BEATS * 5.0 + 1), now) is Verdict.ALIVE
    assert judge(_row(elsewhere, beat_at=now - STALE_BEATS * 5.0 - 1), now) is Verdict.STALE
    no_beat = dataclasses.replace(elsewhere, beat_s=None)
    assert judge(_row(no_beat, beat_at=now - 3600), now) is Verdict.UNKNOWN
    # A row written before holders were recorded: only its expiry ends it.
    assert judge(_row(None), now) is Verdict.UNKNOWN


def test_a_live_process_here_is_never_judged_by_its_heartbeat() -> None:
    """A hung but live holder on this host keeps its lease until it runs out."""
    now = time.time()
    me = this_process(beat_s=1.0)
    assert judge(_row(me, beat_at=now - 3600), now) is Verdict.ALIVE


# --- the engine against a holder in another process -------------------------------------


@pytest.fixture
async def stack(make_stack: MakeStack) -> Stack:
    stack = await make_stack(graph_options={"replication_lag_s": 0.0})
    await stack.settle()
    return stack


@pytest.fixture
async def holder_proc(stack: Stack) -> AsyncIterator[asyncio.subprocess.Process]:
    """Another live process on this host holding the link's lease."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.procs.leaseholder",
        str(stack.db_path), stack.secret_key, str(stack.link.id), "other-worker",
        cwd=ROOT, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None
    assert (await asyncio.wait_for(proc.stdout.readline(), 30)).strip() == b"held"
    yield proc
    if proc.returncode is None:
        proc.kill()
        await proc.wait()


def _notify(stack: Stack, given: str) -> None:
    stack.directory.create_user(**graph_user(given))


async def test_a_live_holder_is_waited_for_then_taken_back_once_killed(
    stack: Stack, holder_proc: asyncio.subprocess.Process
) -> None:
    before = len(stack.pbx_state.extensions())
    _notify(stack, "Waiting")
    with capture_logs() as logs:
        for _ in range(3):
            await stack.drain()
    assert len(stack.pbx_state.extensions()) == before, "a live holder's lease was taken"
    waits = [e for e in logs if e["event"] == "lease.waiting"]
    assert len(waits) == 1, "logged once per wait, not per poll"
    assert waits[0]["holder_pid"] == holder_proc.pid
    assert waits[0]["holder_host"] == socket.gethostname()
    assert not [e for e in logs if "took back" in e["event"]]
    lease = await get_link_lease(stack.db, stack.link.id)
    assert lease is not None and lease.owner == "other-worker"
    assert lease.waiter == stack.engine.ctx.worker_id

    holder_proc.kill()
    await holder_proc.wait()
    with capture_logs() as logs:
        await stack.engine.run_until_idle()
    assert len(stack.pbx_state.extensions()) == before + 1
    taken = [e for e in logs if e["event"] == "lease.taken_back"]
    assert [(e["holder_pid"], e["reason"]) for e in taken] == [(holder_proc.pid, "process gone")]
    assert await get_link_lease(stack.db, stack.link.id) is None


async def test_status_and_link_page_say_why_a_link_waits(
    stack: Stack, holder_proc: asyncio.subprocess.Process
) -> None:
    _notify(stack, "Shown")
    await stack.drain()
    host = socket.gethostname()
    expected = f"waiting for another worker's lease (pid {holder_proc.pid} on host {host}), until "

    status = await cli_status(stack.db, stack.link, stack.settings)
    lease = json.loads(json.dumps(status["lease"]))
    assert lease["owner"] == "other-worker" and lease["pid"] == holder_proc.pid
    assert lease["waiting"].startswith(expected) and lease["waiting"].endswith(" UTC")

    cli = await _cli(stack, "status")
    assert f"contoso: {expected}" in cli
    cli_json = json.loads(await _cli(stack, "status", "--json"))
    assert cli_json[0]["lease"]["waiting"].startswith(expected)

    info = stack.emus.info
    base = str(stack.server.make_url("")).rstrip("/")
    async with aiohttp.ClientSession(base, cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        signed = await _sign_in(http, info["pbx_tenant_admin"], info["pbx_tenant_admin_password"])
        assert signed.status == 303
        async with http.get(f"/links/{stack.link.id}") as page:
            body = html.unescape(await page.text())
        async with http.get(f"/api/links/{stack.link.id}") as api:
            data = await api.json()
    assert 'id="lease-wait"' in body and expected in body
    assert data["lease_wait"].startswith(expected)

    # Once the holder is gone and the link worked, nothing is shown any more.
    holder_proc.kill()
    await holder_proc.wait()
    await stack.engine.run_until_idle()
    assert (await cli_status(stack.db, stack.link, stack.settings))["lease"] is None


async def _cli(stack: Stack, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("M365SYNC_", "PORT"))}
    env.update(
        M365SYNC_DATA_DIR=str(stack.db_path.parent),
        M365SYNC_DATABASE=str(stack.db_path),
        M365SYNC_SECRET_KEY=stack.secret_key,
        M365SYNC_LOG_FORMAT="json",
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "cli.cli", *args, env=env, cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stdin=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    return out.decode()


# --- a holder on another host -----------------------------------------------------------

ELSEWHERE = LeaseHolder("far-host", "far-boot/pid:[4026531836]", 4242, 99, beat_s=5.0)


async def _held_elsewhere(stack: Stack, beat_at: float) -> list[int]:
    """Another host's worker holds the link's lease and has claimed its due events."""
    await acquire_link_lease(
        stack.db, stack.link.id, "far-worker", 120.0, now=beat_at, holder=ELSEWHERE
    )
    claimed = await claim_events(stack.db, stack.link.id, "far-worker", lease_s=120.0)
    assert claimed
    return [e.id for e in claimed]


async def test_a_recent_heartbeat_from_another_host_keeps_its_lease(stack: Stack) -> None:
    before = len(stack.pbx_state.extensions())
    _notify(stack, "Fresh")
    await stack.emus.graph.delivery_idle()
    await _held_elsewhere(stack, beat_at=time.time())
    assert await stack.engine.leases.reclaim_dead() == 0
    await stack.engine.run_until_idle()
    assert len(stack.pbx_state.extensions()) == before
    lease = await get_link_lease(stack.db, stack.link.id)
    assert lease is not None and lease.owner == "far-worker"


async def test_a_stopped_heartbeat_from_another_host_gives_its_lease_and_events_back(
    stack: Stack,
) -> None:
    before = len(stack.pbx_state.extensions())
    _notify(stack, "Stale")
    await stack.emus.graph.delivery_idle()
    beat_at = time.time() - STALE_BEATS * ELSEWHERE.beat_s - 1  # type: ignore[operator]
    ids = await _held_elsewhere(stack, beat_at=beat_at)
    assert await stack.engine.leases.reclaim_dead() == 1
    # The events are claimable now, not in two minutes; their attempt stays counted.
    events = await list_events(stack.db, stack.link.id, EventStatus.CLAIMED)
    assert {e.id for e in events} == set(ids)
    assert all(e.lease_until is not None and e.lease_until <= time.time() for e in events)
    assert all(e.attempts == 1 for e in events)
    await stack.engine.run_until_idle()
    assert len(stack.pbx_state.extensions()) == before + 1


# --- a round whose lease was taken stops ------------------------------------------------


async def test_a_round_whose_lease_is_taken_stops_and_leaves_the_events(
    make_stack: MakeStack,
) -> None:
    stack = await make_stack(
        pbx_latency_s=0.05,
        engine_config=EngineConfig(heartbeat_s=0.05, lease_s=120.0),
        graph_options={"replication_lag_s": 0.0},
    )
    await stack.settle()
    before = len(stack.pbx_state.extensions())
    for n in range(30):
        _notify(stack, f"Fenced{n:02d}")
    await stack.emus.graph.delivery_idle()
    round_task = asyncio.create_task(stack.engine.links.process(stack.link.id))
    while len(stack.pbx_state.extensions()) == before:  # noqa: ASYNC110 - the emulator is the probe
        await asyncio.sleep(0.01)
    # Another worker judged this one dead and took the lease (as a stale heartbeat would).
    await stack.db.write(
        "UPDATE link_leases SET owner = 'robber', until = ? WHERE link_id = ?",
        (time.time() + 120, stack.link.id),
    )
    with capture_logs() as logs:
        assert await asyncio.wait_for(round_task, 30) is True
    assert any(e["event"] == "lease.lost" for e in logs)
    assert len(stack.pbx_state.extensions()) < before + 30, "the round ran to the end"
    pending = await list_events(stack.db, stack.link.id, EventStatus.PENDING)
    assert pending, "the stopped round's events were handed back, not completed"
    lease = await get_link_lease(stack.db, stack.link.id)
    assert lease is not None and lease.owner == "robber", "the new holder's lease was freed"
    assert host_key()


# --- the daemon's loop while it waits -----------------------------------------------------


async def test_the_loop_waits_by_polling_not_spinning_then_resumes(
    make_stack: MakeStack,
) -> None:
    """While a live holder keeps the lease, due events the loop cannot start do not make
    it spin (it did: the next due time was in the past, so it never slept); once the
    holder dies, the next poll takes the lease back and works the link."""
    stack = await make_stack(
        engine_config=EngineConfig(poll_s=0.5), graph_options={"replication_lag_s": 0.0}
    )
    await stack.settle()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.procs.leaseholder",
        str(stack.db_path), stack.secret_key, str(stack.link.id), "other-worker",
        cwd=ROOT, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None
    assert (await asyncio.wait_for(proc.stdout.readline(), 30)).strip() == b"held"
    before = len(stack.pbx_state.extensions())
    _notify(stack, "Polled")
    await stack.emus.graph.delivery_idle()

    engine = stack.engine
    passes = 0
    reclaim = engine.leases.reclaim_dead

    async def counted() -> int:  # one call per pass of the loop
        nonlocal passes
        passes += 1
        return await reclaim()

    engine.leases.reclaim_dead = counted  # type: ignore[method-assign]
    stop = asyncio.Event()
    loop = asyncio.create_task(engine.run(stop))
    try:
        lease = await get_link_lease(stack.db, stack.link.id)
        while lease is None or lease.waiter != engine.ctx.worker_id:
            await asyncio.sleep(0.02)
            lease = await get_link_lease(stack.db, stack.link.id)
        passes = 0
        await asyncio.sleep(1.0)  # nothing to wait for: we watch the loop stay quiet
        assert passes <= 4, f"{passes} passes in 1 s with a 0.5 s poll: the loop spins"
        assert len(stack.pbx_state.extensions()) == before
        proc.kill()
        await proc.wait()
        await asyncio.wait_for(_extensions_reach(stack, before + 1), 10)
    finally:
        stop.set()
        await loop
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def _extensions_reach(stack: Stack, count: int) -> None:
    while len(stack.pbx_state.extensions()) < count:  # noqa: ASYNC110 - the emulator is the probe
        await asyncio.sleep(0.02)


# --- administrator operations (resync, approve, ...) take the same lease ----------------


async def test_an_operation_names_a_live_holder_and_takes_back_a_dead_one(
    stack: Stack, holder_proc: asyncio.subprocess.Process
) -> None:
    with pytest.raises(LinkBusy, match=rf"pid {holder_proc.pid} on host {socket.gethostname()}"):
        async with link_lease(stack.db, stack.link, "cli:resync"):
            pass
    holder_proc.kill()
    await holder_proc.wait()
    async with link_lease(stack.db, stack.link, "cli:resync"):
        lease = await get_link_lease(stack.db, stack.link.id)
        assert lease is not None and lease.owner.startswith("cli:resync:")
        assert lease.holder is not None and lease.holder.pid == os.getpid()
    assert await get_link_lease(stack.db, stack.link.id) is None
