"""The engine stops in three steps: stop claiming, let a running round finish within the
grace period, cancel what is left — handing its events back, not losing them."""

from __future__ import annotations

import asyncio
from typing import Any

from store.events import list_events, queue_stats
from store.models import EventStatus
from tests.plugins.pipeline import MakeStack, graph_user
from worker.context import EngineConfig


async def _started_round(make_stack: MakeStack, grace_s: float) -> Any:
    stack = await make_stack(
        pbx_latency_s=0.05, engine_config=EngineConfig(shutdown_grace_s=grace_s, poll_s=0.05)
    )
    await stack.settle()
    for n in range(12):
        stack.directory.create_user(**graph_user("Stop", str(n), email=f"stop{n}@contoso.example"))
    await stack.emus.graph.delivery_idle()
    stop = asyncio.Event()
    runner = asyncio.create_task(stack.engine.run(stop))
    state = stack.pbx_state
    # Stop while the round is creating extensions.
    while not state.extensions():  # noqa: ASYNC110 - waiting on the emulator's state
        await asyncio.sleep(0.005)
    stop.set()
    await asyncio.wait_for(runner, 30)
    return stack


async def test_running_round_finishes_within_the_grace_period(make_stack: MakeStack) -> None:
    """With enough grace the round completes: every extension exists, every event is done."""
    stack = await _started_round(make_stack, grace_s=30)
    assert len(stack.pbx_state.extensions()) == 12
    stats = await queue_stats(stack.db, stack.link.id)
    assert (stats.pending, stats.claimed) == (0, 0)


async def test_round_past_the_grace_period_is_cancelled_and_its_events_kept(
    make_stack: MakeStack,
) -> None:
    """Past the grace period the round is cancelled; its events go back to pending without
    using up an attempt, and the next start finishes the job."""
    stack = await _started_round(make_stack, grace_s=0.01)
    assert len(stack.pbx_state.extensions()) < 12
    pending = await list_events(stack.db, stack.link.id, EventStatus.PENDING)
    assert pending
    assert all(e.attempts == 0 for e in pending)
    await stack.engine.run_until_idle()
    emails = [a.settings["email_address"] for a in stack.pbx_state.extensions()]
    assert sorted(emails) == sorted(f"stop{n}@contoso.example" for n in range(12))
