"""Recovery paths end to end: replication lag, events failing past their retries, and a
link that loses its authorization."""

from __future__ import annotations

from typing import Any

import pytest

from emulators.faults import FaultRule
from store.events import list_events, queue_stats, retry_failed
from store.links import get_link
from store.models import EventStatus, LinkState
from tests.plugins.pipeline import MakeStack, graph_user
from worker.context import EngineConfig
from worker.linkadmin import check_link

USER = graph_user("Lag", "Gard")


async def test_user_missing_from_delta_is_rechecked_until_it_appears(
    make_stack: MakeStack,
) -> None:
    """Graph notifies before the change reaches delta (replication lag): the worker looks
    again a little later instead of waiting for the sweep."""
    stack = await make_stack(graph_options={"replication_lag_s": 0.0})  # the test drives it
    await stack.settle()
    stack.directory.replication_lag_s = 30.0
    user: dict[str, Any] = stack.directory.create_user(**USER)
    await stack.drain()
    assert stack.pbx_state.get("200") is None
    pending = await list_events(stack.db, stack.link.id, EventStatus.PENDING)
    # (The subscription's gap also left a delayed follow-up resync.)
    (recheck,) = [e for e in pending if e.kind == "recheck"]
    assert recheck.user_id == user["id"]
    stack.emus.graph.advance_clock(31)
    stack.shift_clock(1)
    await stack.engine.run_until_idle()
    assert stack.pbx_state.get("200") is not None
    assert (await queue_stats(stack.db, stack.link.id)).pending == 0


async def test_rechecks_stop_after_a_few_tries(make_stack: MakeStack) -> None:
    """A user that never shows up is rechecked a bounded number of times, then left to the
    sweep; nothing piles up."""
    stack = await make_stack(graph_options={"replication_lag_s": 0.0})  # the test drives it
    await stack.settle()
    stack.directory.replication_lag_s = 10_000.0
    stack.directory.create_user(**USER)
    await stack.drain()
    for step in range(1, 5):
        stack.shift_clock(step * 10)
        await stack.engine.run_until_idle()
    stats = await queue_stats(stack.db, stack.link.id)
    assert (stats.pending, stats.claimed, stats.failed) == (0, 0, 0)
    kinds = [e.kind for e in await list_events(stack.db, stack.link.id)]
    assert kinds.count("recheck") == len(stack.engine.ctx.config.recheck_delays_s)


async def test_events_failing_past_the_cap_are_kept_and_retryable(make_stack: MakeStack) -> None:
    """Past max_attempts an event is marked failed (kept, visible); retry-failed re-queues it
    and the change then lands once."""
    stack = await make_stack(
        engine_config=EngineConfig(max_attempts=2, retry_base_s=1, recheck_delays_s=(0.2,))
    )
    await stack.settle()
    stack.emus.graph.faults.add(
        FaultRule(r"/users/delta", kind="status", status=503, count=-1, retry_after_s=0)
    )
    stack.directory.create_user(**USER)
    await stack.drain()
    stack.shift_clock(3600)
    await stack.work()
    (failed,) = await list_events(stack.db, stack.link.id, EventStatus.FAILED)
    assert failed.attempts == 2
    assert failed.last_error and "503" in failed.last_error
    stack.emus.graph.faults.clear()
    assert await retry_failed(stack.db, stack.link.id, now=stack.engine.ctx.clock()) == 1
    await stack.work()
    assert stack.pbx_state.get("200") is not None
    stats = await queue_stats(stack.db, stack.link.id)
    assert (stats.pending, stats.failed) == (0, 0)


async def test_lost_consent_puts_the_link_in_setup_required_and_keeps_events(
    make_stack: MakeStack,
) -> None:
    """When tokens stop carrying the permission the link goes to Setup Required; its events
    wait, and after consent is granted again (and the link checked) they are applied."""
    stack = await make_stack()
    await stack.settle()
    client_id = stack.emus.info["client_id"]
    stack.emus.graph.identity.revoke_admin_consent(client_id)
    stack.emus.graph.advance_clock(3700)  # the cached token expires; the new one has no roles
    stack.directory.create_user(**USER)
    await stack.drain()
    link = await get_link(stack.db, stack.link.id)
    assert link.state is LinkState.SETUP_REQUIRED
    assert "consent" in link.state_reason.lower()
    waiting = await list_events(stack.db, stack.link.id, EventStatus.PENDING)
    assert waiting
    assert all(e.attempts == 0 for e in waiting)
    await stack.work()
    assert stack.pbx_state.get("200") is None, "nothing is done while setup is required"

    stack.emus.graph.identity.grant_admin_consent(client_id)
    link = await check_link(stack.db, stack.link.id, stack.settings)
    assert link.state is LinkState.ACTIVE
    await stack.work()
    assert stack.pbx_state.get("200") is not None


@pytest.mark.parametrize(("cooloff_days", "expected"), [(30, "202"), (0, "200")])
async def test_number_freed_on_the_pbx_waits_out_its_cooloff(
    make_stack: MakeStack, cooloff_days: int, expected: str
) -> None:
    """An extension deleted by hand on the PBX frees its number; a new user does not get it
    until the cool-off has passed (with no cool-off, at once)."""
    stack = await make_stack(policy={"cooloff_days": cooloff_days})
    stack.pbx_state.add_extension("200", first_name="Door", last_name="Phone")
    await stack.settle()
    stack.directory.create_user(**graph_user("Ann", "Lee"))
    await stack.drain()
    assert stack.pbx_state.get("201") is not None
    assert stack.pbx_state.remove_account("200")
    stack.directory.create_user(**graph_user("Bob", "Stone"))
    await stack.drain()
    (bob,) = [
        a for a in stack.pbx_state.extensions() if a.settings["email_address"].startswith("bob")
    ]
    assert bob.number == expected
