"""Failover end to end (issue 16): two `m365sync serve` processes on one PostgreSQL database
behind a round-robin load balancer; 500 users created in a burst, Graph's notifications
spread over both; the instance holding the link's lease is SIGKILLed mid-round, and the
other finishes the work within the lease time: every user has exactly one extension,
every event is done, nothing is lost."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import signal
import socket
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from store.directory import get_bindings
from store.events import queue_stats
from store.leases import get_link_lease
from tests.plugins.pipeline import MakeStack, graph_user
from tests.waiting import until

ROOT = Path(__file__).resolve().parent.parent
USERS = 500
LEASE_S = 20.0


class LoadBalancer:
    """Round robin over the live backends, the next one on a refused connection: what a
    load balancer in front of the instances does (its health checks aside)."""

    def __init__(self) -> None:
        self.backends: list[str] = []
        self.served: Counter[str] = Counter()
        self._turn = itertools.count()
        self._session: aiohttp.ClientSession | None = None

    async def handle(self, request: web.Request) -> web.StreamResponse:
        assert self._session is not None
        body = await request.read()
        start = next(self._turn)
        for offset in range(len(self.backends)):
            backend = self.backends[(start + offset) % len(self.backends)]
            try:
                async with self._session.request(
                    request.method,
                    backend + request.path_qs,
                    data=body,
                    headers={"Content-Type": request.headers.get("Content-Type", "")},
                ) as answer:
                    self.served[backend] += 1
                    return web.Response(
                        status=answer.status,
                        body=await answer.read(),
                        content_type=answer.content_type,
                    )
            except aiohttp.ClientConnectionError:
                continue
        return web.Response(status=502)

    @contextlib.asynccontextmanager
    async def running(self, port: int) -> AsyncIterator[str]:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", port)
        async with aiohttp.ClientSession() as self._session:
            await site.start()
            try:
                yield f"http://127.0.0.1:{port}"
            finally:
                await runner.cleanup()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def _serve(
    data_dir: Path, url: str, key: str, public_url: str, port: int
) -> asyncio.subprocess.Process:
    data_dir.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("M365SYNC_", "PORT"))}
    env.update(
        M365SYNC_DATA_DIR=str(data_dir),
        M365SYNC_DATABASE_URL=url,
        M365SYNC_SECRET_KEY=key,
        M365SYNC_PUBLIC_URL=public_url,
        M365SYNC_LISTEN=f"127.0.0.1:{port}",
        M365SYNC_LOG_FORMAT="json",
        M365SYNC_WORKER_LEASE_S=str(LEASE_S),
        M365SYNC_WORKER_POLL_S="0.5",
    )
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "cli.cli", "serve",
        env=env, cwd=ROOT,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip


async def _ready(base: str) -> bool:
    try:
        async with aiohttp.ClientSession() as http, http.get(f"{base}/readyz") as answer:
            return answer.status == 200
    except aiohttp.ClientConnectionError:
        return False


@pytest.mark.slow
async def test_two_instances_one_killed_mid_round_the_other_finishes(
    make_stack: MakeStack, tmp_path: Path
) -> None:
    balancer = LoadBalancer()
    async with balancer.running(_free_port()) as public_url:
        stack = await make_stack(
            backend="postgresql",
            public_url=public_url,
            policy={"ranges": "1000-1999"},
            pbx_latency_s=0.02,
            graph_options={"replication_lag_s": 0, "slow_endpoint_throttling": False},
        )
        # Until the instances run, the test's own app answers Graph's validation request.
        balancer.backends = [str(stack.server.make_url("")).rstrip("/")]
        await stack.settle()
        assert stack.settings.database_url is not None
        ports = [_free_port(), _free_port()]
        procs = [
            await _serve(tmp_path / f"i{n}", stack.settings.database_url, stack.secret_key,
                         public_url, port)
            for n, port in enumerate(ports)
        ]  # fmt: skip
        bases = [f"http://127.0.0.1:{port}" for port in ports]
        try:
            for base in bases:
                await until(lambda b=base: _ready(b), f"{base} ready", 60)  # type: ignore[misc]
            balancer.backends = bases

            for n in range(USERS):
                stack.directory.create_user(**graph_user("Fail", f"Over{n:03d}"))

            def created() -> int:
                return len(stack.pbx_state.extensions())

            await until(lambda: created() >= 50, "the first creates", 120)
            lease = await get_link_lease(stack.db, stack.link.id)
            assert lease is not None and lease.holder is not None
            victim = next(p for p in procs if p.pid == lease.holder.pid)
            victim.send_signal(signal.SIGKILL)
            await victim.wait()
            killed_at, at_kill = time.monotonic(), created()
            assert at_kill < USERS, "the kill should land mid-round"

            async def finished() -> bool:
                stats = await queue_stats(stack.db, stack.link.id)
                return created() >= USERS and not (stats.pending or stats.claimed)

            try:
                await until(finished, "the survivor finished", LEASE_S + 60)
            except BaseException:
                rows = await stack.db.fetchall(
                    "SELECT status, kind, claimed_by, COUNT(*) AS n FROM events"
                    " GROUP BY status, kind, claimed_by"
                )
                print("DEBUG", created(), [dict(r) for r in rows])
                print("DEBUG lease", await get_link_lease(stack.db, stack.link.id))
                raise
            took_s = time.monotonic() - killed_at
            await stack.emus.graph.delivery_idle()
            await until(finished, "the last notifications done", 60)
            print(
                f"failover: killed pid {victim.pid} at {at_kill}/{USERS} created;"
                f" the other instance finished {took_s:.2f} s after the kill"
                f" (lease {LEASE_S:g} s); notifications via the balancer: {dict(balancer.served)}"
            )
            assert took_s < LEASE_S
        finally:
            for proc in procs:
                if proc.returncode is None:
                    proc.send_signal(signal.SIGTERM)
                    await asyncio.wait_for(proc.wait(), 30)

    emails = Counter(a.settings["email_address"] for a in stack.pbx_state.extensions())
    assert len(emails) == USERS and set(emails.values()) == {1}
    assert len(await get_bindings(stack.db, stack.link.id)) == USERS
    stats = await queue_stats(stack.db, stack.link.id)
    assert (stats.pending, stats.claimed, stats.failed) == (0, 0, 0)
    assert all(balancer.served[b] > 0 for b in bases), balancer.served
