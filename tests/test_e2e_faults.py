"""Faults end to end: Graph throttling and outages, a 410 mid-round, the PBX down for a
while, and a 1,000-user burst. Nothing is lost and nothing is done twice."""

from __future__ import annotations

from collections import Counter
from typing import Any

from emulators.faults import FaultRule
from store.directory import get_bindings
from store.events import list_events, queue_stats
from store.models import EventStatus
from tests.plugins.pipeline import MakeStack, Stack, graph_user
from worker.context import EngineConfig


def _user(n: int) -> dict[str, Any]:
    return graph_user(
        "User",
        f"{n:04d}",
        email=f"user{n:04d}@contoso.example",
        businessPhones=[f"+1 425 555 {n:04d}"],
    )


def _emails(stack: Stack) -> Counter[str]:
    return Counter(a.settings["email_address"] for a in stack.pbx_state.extensions())


async def _all_done(stack: Stack) -> None:
    stats = await queue_stats(stack.db, stack.link.id)
    assert (stats.pending, stats.claimed, stats.failed) == (0, 0, 0)


async def test_graph_429_with_retry_after_is_ridden_out(make_stack: MakeStack) -> None:
    """A few 429s on delta are waited out inside the round; the user still arrives."""
    stack = await make_stack(policy={"ranges": "200-299"})
    await stack.settle()
    rule = stack.emus.graph.faults.add(
        FaultRule(path_pattern=r"/users/delta", kind="status", status=429, count=3, retry_after_s=0)
    )
    stack.directory.create_user(**_user(1))
    await stack.drain()
    assert rule.hits == 3
    assert _emails(stack)["user0001@contoso.example"] == 1
    await _all_done(stack)


async def test_graph_503_storm_fails_the_round_then_retries_later(make_stack: MakeStack) -> None:
    """A 503 storm longer than the client's retries puts the events off; they are kept and
    the next attempt applies the change once."""
    stack = await make_stack()
    await stack.settle()
    stack.emus.graph.faults.add(
        FaultRule(
            path_pattern=r"/users/delta", kind="status", status=503, count=40, retry_after_s=0
        )
    )
    stack.directory.create_user(**_user(2))
    await stack.drain()
    pending = await list_events(stack.db, stack.link.id, EventStatus.PENDING)
    assert pending, "the notification must be kept for a retry"
    assert pending[0].last_error and "503" in pending[0].last_error
    assert stack.pbx_state.get("200") is None
    stack.emus.graph.faults.clear()
    stack.shift_clock(3600)
    await stack.work()
    assert _emails(stack)["user0002@contoso.example"] == 1
    await _all_done(stack)


async def test_410_mid_round_runs_a_full_resync_without_duplicates(make_stack: MakeStack) -> None:
    """Graph resets our delta state: a full round follows and nobody gets a second extension."""
    stack = await make_stack(users=30)
    await stack.settle()
    before = _emails(stack)
    assert len(before) > 0
    stack.emus.graph.arm_delta_gone()
    stack.directory.create_user(**_user(3))
    await stack.drain()
    after = _emails(stack)
    assert after["user0003@contoso.example"] == 1
    assert all(count == 1 for count in after.values())
    assert len(after) == len(before) + 1
    await _all_done(stack)


async def test_pbx_down_for_a_while_then_everything_is_applied(make_stack: MakeStack) -> None:
    """With the PBX answering 503 the round fails and is retried; once it is back, all the
    changes land, once each."""
    stack = await make_stack(engine_config=EngineConfig(max_attempts=20))
    await stack.settle()
    outage = stack.emus.pbx.faults.add(
        FaultRule(path_pattern=r"^/rest/", kind="status", status=503, count=-1)
    )
    for n in range(5):
        stack.directory.create_user(**_user(10 + n))
    await stack.drain()
    assert outage.hits > 0
    assert stack.pbx_state.extensions() == []
    stack.emus.pbx.faults.clear()
    stack.shift_clock(3600)
    await stack.work()
    emails = _emails(stack)
    assert sorted(emails) == [f"user{10 + n:04d}@contoso.example" for n in range(5)]
    assert set(emails.values()) == {1}
    assert len(await get_bindings(stack.db, stack.link.id)) == 5
    await _all_done(stack)


async def test_burst_of_1000_users_in_at_most_5_rounds(make_stack: MakeStack) -> None:
    """1,000 users created at once are all provisioned; notifications coalesce into few rounds."""
    stack = await make_stack(policy={"ranges": "2000-2999"})
    await stack.settle()
    rounds_before = stack.engine.rounds_run
    for n in range(1000):
        stack.directory.create_user(**_user(n))
    await stack.drain()
    emails = _emails(stack)
    assert len(emails) == 1000
    assert set(emails.values()) == {1}
    assert stack.engine.rounds_run - rounds_before <= 5
    await _all_done(stack)
