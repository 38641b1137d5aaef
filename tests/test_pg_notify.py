"""Two instances on one PostgreSQL database: a notification accepted by instance A's
webhook wakes instance B's worker at once (LISTEN/NOTIFY), not at B's next poll; and a
lost listener connection comes back by itself."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
import pytest

from store import SecretBox, open_database
from store.events import queue_stats
from store.pg import PgDatabase
from tests.plugins.pipeline import MakeStack, Stack, graph_user
from tests.waiting import until
from worker.context import EngineConfig
from worker.engine import Engine, build_engine
from worker.wake import Waker

# B's poll interval: without a NOTIFY, B would not look for work within the test.
POLL_S = 600.0


class WatchedWaker(Waker):
    """A real Waker that also says when its engine has gone to sleep in it for long."""

    def __init__(self) -> None:
        super().__init__()
        self.sleeping = asyncio.Event()

    async def wait(self, timeout_s: float) -> set[int]:
        # Not when a wake-up is already waiting, or work falls due soon (a recheck, say).
        if not self._event.is_set() and timeout_s >= POLL_S / 2:
            self.sleeping.set()
        try:
            return await super().wait(timeout_s)
        finally:
            self.sleeping.clear()


@dataclass
class InstanceB:
    engine: Engine
    waker: WatchedWaker
    db: PgDatabase


@pytest.fixture
async def instance_b(make_stack: MakeStack) -> AsyncIterator[tuple[Stack, InstanceB]]:
    # Instance A: the webhook (and an engine nobody runs); B: a worker on the same database.
    # The safety poll (every 15 min by default, at the link's own phase) could fall due
    # within the test and wake B on its own; once a day it almost never does.
    stack = await make_stack(
        backend="postgresql",
        graph_options={"replication_lag_s": 0},
        policy={"safety_poll_s": 86400},
    )
    await stack.settle()
    assert stack.settings.database_url is not None
    db = await open_database(stack.settings.database_url, SecretBox([stack.secret_key.encode()]))
    assert isinstance(db, PgDatabase)
    waker = WatchedWaker()
    engine = build_engine(
        db, stack.settings, waker=waker, config=EngineConfig(poll_s=POLL_S), worker_id="b"
    )
    stop = asyncio.Event()
    task = asyncio.create_task(engine.run(stop))
    try:
        yield stack, InstanceB(engine, waker, db)
    finally:
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 30)
        await db.close()


async def _asleep(b: InstanceB) -> None:
    """B has finished its start-up work and sleeps for POLL_S."""
    while True:
        await asyncio.wait_for(b.waker.sleeping.wait(), 30)
        if not any(not t.done() for t in b.engine._running.values()):
            return
        b.waker.sleeping.clear()


async def _created(stack: Stack, count: int) -> None:
    await until(lambda: len(stack.pbx_state.extensions()) >= count, f"{count} extensions")


async def _drained(stack: Stack) -> None:
    async def drained() -> bool:
        stats = await queue_stats(stack.db, stack.link.id)
        return not (stats.pending or stats.claimed)

    await until(drained, "every event done")


async def test_a_notification_on_instance_a_wakes_the_worker_on_instance_b(
    instance_b: tuple[Stack, InstanceB],
) -> None:
    stack, b = instance_b
    await _asleep(b)
    before = len(stack.pbx_state.extensions())
    stack.directory.create_user(**graph_user("Nora", "Notify"))
    await stack.emus.graph.delivery_idle()
    # Far sooner than B's poll: only the NOTIFY of A's enqueue can have woken it.
    await _created(stack, before + 1)
    await _drained(stack)
    rows = await stack.db.fetchall(
        "SELECT DISTINCT claimed_by FROM events WHERE kind = 'notification'"
    )
    assert [r["claimed_by"] for r in rows] == ["b"]


async def test_a_lost_listener_reconnects_and_wakes_again(
    instance_b: tuple[Stack, InstanceB],
) -> None:
    """The server ends B's LISTEN connection; B listens again on its next loop (the
    reconnect wakes it, as notifications may have been missed) and A's next enqueue
    still reaches it at once."""
    stack, b = instance_b
    await _asleep(b)
    listener = b.db._listener
    assert listener is not None
    pid = listener.get_server_pid()
    assert stack.settings.database_url is not None
    admin = await asyncpg.connect(stack.settings.database_url)
    try:
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
    finally:
        await admin.close()
    await until(listener.is_closed, "the listener connection closed")
    # B notices at its next loop: any wake-up (here the one a round's end gives), or the
    # poll. Nothing notified meanwhile could reach it.
    b.waker.wake()
    await until(
        lambda: b.db._listener is not None and not b.db._listener.is_closed(),
        "B listening again",
    )
    await _asleep(b)
    before = len(stack.pbx_state.extensions())
    stack.directory.create_user(**graph_user("Rhea", "Reconnect"))
    await stack.emus.graph.delivery_idle()
    await _created(stack, before + 1)
