"""Sweep scheduling: the first at once, then every sweep_interval_hours (with a small
per-link jitter), and a failed sweep does not count as done."""

from __future__ import annotations

import time

from store.events import has_unfinished_event
from store.models import RoundRecord
from store.records import add_round
from tests.plugins.pipeline import MakeStack

HOUR_S = 3600.0


async def test_first_sweep_is_immediate_then_twelve_hourly(make_stack: MakeStack) -> None:
    """A new link is swept at once; the next sweep waits for the interval (plus jitter ≤ 10%)."""
    stack = await make_stack(subscribe=False)
    scheduler = stack.engine.scheduler
    assert await scheduler.schedule_sweep(stack.link)
    await stack.engine.run_until_idle()
    assert not await scheduler.schedule_sweep(stack.link)
    stack.shift_clock(11 * HOUR_S)
    assert not await scheduler.schedule_sweep(stack.link)
    stack.shift_clock(2.3 * HOUR_S)
    assert await scheduler.schedule_sweep(stack.link)
    assert not await scheduler.schedule_sweep(stack.link), "one pending sweep is enough"


async def test_failed_sweep_does_not_count(make_stack: MakeStack) -> None:
    """After a sweep that failed, maintenance schedules another instead of waiting 12 h."""
    stack = await make_stack(subscribe=False)
    now = time.time()
    async with stack.db.atomic() as tx:
        await add_round(
            tx,
            RoundRecord(stack.link.id, "sweep", now - 5, now, "error", error="TransientError"),
        )
    assert await stack.engine.scheduler.schedule_sweep(stack.link)
    assert await has_unfinished_event(stack.db, stack.link.id, "sweep")
