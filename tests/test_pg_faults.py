"""Losing the PostgreSQL database: /readyz fails, the webhook answers 503 (Graph delivers
again later: never a 202 for an event that was not stored), rounds pause, and everything
resumes when the database is back, without a restart.

The outage is real: the server refuses new connections to the test's database
(`ALLOW_CONNECTIONS false`) and ends the open ones (`pg_terminate_backend`), as a
database failover or a network cut would.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import AsyncIterator

import aiohttp
import asyncpg
import pytest

from store.directory import get_bindings
from store.events import queue_stats
from tests.pgserver import PgServer
from tests.plugins.pipeline import MakeStack, Stack, graph_user
from tests.waiting import until
from webhook.notifications import STORE_TIMEOUT_S
from worker.context import EngineConfig


class Outage:
    """Cuts one database off its clients and brings it back, from the server's side."""

    def __init__(self, server: PgServer, database: str) -> None:
        self._server = server
        self._database = database

    async def _admin(self, sql: str, *args: str) -> None:
        conn = await asyncpg.connect(self._server.url("postgres"))
        try:
            await conn.execute(sql, *args)
        finally:
            await conn.close()

    async def cut(self) -> None:
        await self._admin(f'ALTER DATABASE "{self._database}" WITH ALLOW_CONNECTIONS false')
        await self._admin(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = $1 AND pid <> pg_backend_pid()",
            self._database,
        )

    async def restore(self) -> None:
        await self._admin(f'ALTER DATABASE "{self._database}" WITH ALLOW_CONNECTIONS true')


@pytest.fixture
async def outage_stack(
    make_stack: MakeStack, pg_server: PgServer
) -> AsyncIterator[tuple[Stack, Outage]]:
    stack = await make_stack(
        backend="postgresql",
        pbx_latency_s=0.05,
        graph_options={"replication_lag_s": 0, "slow_endpoint_throttling": False},
        engine_config=EngineConfig(poll_s=0.2, recheck_delays_s=(0.2, 0.5)),
    )
    await stack.settle()
    assert stack.settings.database_url is not None
    outage = Outage(pg_server, stack.settings.database_url.rsplit("/", 1)[1])
    try:
        yield stack, outage
    finally:
        await outage.restore()


async def _readyz(stack: Stack) -> int:
    async with aiohttp.ClientSession() as http, http.get(stack.server.make_url("/readyz")) as r:
        return r.status


def _statuses(stack: Stack) -> list[int | str]:
    return [post["status"] for post in stack.emus.graph.delivery.recent]


def _users(stack: Stack, prefix: str, count: int) -> None:
    for n in range(count):
        stack.directory.create_user(**graph_user(prefix, f"N{n:03d}"))


async def _all_done(stack: Stack, users: int) -> None:
    await until(lambda: len(stack.pbx_state.extensions()) >= users, f"{users} extensions", 60)

    async def drained() -> bool:
        stats = await queue_stats(stack.db, stack.link.id)
        return not (stats.pending or stats.claimed or stats.failed)

    await until(drained, "every event done", 60)
    emails = Counter(a.settings["email_address"] for a in stack.pbx_state.extensions())
    assert len(emails) == users and set(emails.values()) == {1}
    assert len(await get_bindings(stack.db, stack.link.id)) == users


@pytest.mark.parametrize("cache", ["warm", "cold"])
async def test_without_the_database_readyz_fails_and_notifications_get_503_until_it_is_back(
    outage_stack: tuple[Stack, Outage], cache: str
) -> None:
    """Cold: the subscription was never looked up, so the webhook cannot judge the item;
    warm: it can, but cannot store the event. Either way 503, then Graph's retry lands."""
    stack, outage = outage_stack
    if cache == "warm":
        _users(stack, "Warm", 1)
        await stack.drain()
    before = len(stack.pbx_state.extensions())
    assert await _readyz(stack) == 200
    await outage.cut()
    try:
        assert await _readyz(stack) == 503
        seen = len(_statuses(stack))
        stack.directory.create_user(**graph_user("During", "Outage"))
        await until(lambda: 503 in _statuses(stack)[seen:], "Graph got a 503")
        assert 202 not in _statuses(stack)[seen:]
    finally:
        await outage.restore()
    await until(lambda: _statuses(stack)[-1] == 202, "Graph's retry accepted")
    assert await _readyz(stack) == 200
    await stack.drain()
    assert len(stack.pbx_state.extensions()) == before + 1


async def test_a_store_that_does_not_answer_in_time_gets_503_not_a_late_202(
    outage_stack: tuple[Stack, Outage],
) -> None:
    """A table lock holds the enqueue: the webhook answers 503 within Graph's 3 s."""
    stack, _ = outage_stack
    _users(stack, "Warm", 1)
    await stack.drain()
    assert stack.settings.database_url is not None
    locker = await asyncpg.connect(stack.settings.database_url)
    try:
        async with locker.transaction():
            await locker.execute("LOCK TABLE events IN ACCESS EXCLUSIVE MODE")
            started = time.monotonic()
            seen = len(_statuses(stack))
            stack.directory.create_user(**graph_user("Slow", "Store"))
            await until(lambda: 503 in _statuses(stack)[seen:], "Graph got a 503")
            assert 202 not in _statuses(stack)[seen:]
            assert time.monotonic() - started < 3.0 + STORE_TIMEOUT_S
    finally:
        await locker.close()
    await until(lambda: _statuses(stack)[-1] == 202, "Graph's retry accepted")
    await stack.drain()
    await _all_done(stack, 2)


async def test_rounds_pause_while_the_database_is_away_and_resume_when_it_is_back(
    outage_stack: tuple[Stack, Outage],
) -> None:
    """The database goes away in the middle of a round of 60 creates: the running engine
    survives it, and once the database is back it finishes the work on its own, every
    user with exactly one extension, every event done."""
    stack, outage = outage_stack
    stop = asyncio.Event()
    engine = asyncio.create_task(stack.engine.run(stop))
    try:
        _users(stack, "Pause", 60)
        await until(lambda: len(stack.pbx_state.extensions()) >= 5, "a round under way")
        await outage.cut()
        try:
            # A statement on a connection the server ended can wait for the command
            # timeout (store.pg.COMMAND_TIMEOUT_S) before it fails.
            await until(lambda: bool(stack.engine.links._stranded), "the round stopped", 60)
            mid = len(stack.pbx_state.extensions())
            assert mid < 60, "the cut should land mid-round"
            assert not engine.done()
            assert await _readyz(stack) == 503
        finally:
            await outage.restore()
        restored = time.monotonic()
        await _all_done(stack, 60)
        print(f"database back to all done: {time.monotonic() - restored:.2f} s")
        assert not engine.done()
    finally:
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(engine, 30)
