"""End to end on loopback: changes arrive by polling the deltaLink when Graph cannot push
(no public URL), and a safety poll repairs a lost notification when it can."""

from __future__ import annotations

import json

from emulators.faults import FaultRule
from store.events import list_events, queue_stats
from store.models import EventKind, EventStatus
from store.subscriptions import link_subscriptions
from tests.plugins.pipeline import MakeStack, Stack, graph_user

ANN = graph_user("Ann", "Lee")
POLL_S = 10


async def _poll_due_at(stack: Stack) -> float:
    polls = [
        e
        for e in await list_events(stack.db, stack.link.id, EventStatus.PENDING)
        if e.kind is EventKind.POLL
    ]
    assert len(polls) == 1, f"exactly one poll waits, not {len(polls)}"
    return polls[0].due_at


async def _pass(stack: Stack, seconds: float) -> None:
    """Let emulated time pass for Graph (its replication lag) and the engine alike."""
    stack.emus.graph.advance_clock(seconds)
    stack.shift_clock(seconds)


async def _until_extension(stack: Stack, number: str, limit_s: float) -> float:
    """Run the engine from poll to poll until `number` exists; the emulated seconds it took."""
    waited = 0.0
    while stack.pbx_state.get(number) is None:
        assert waited <= limit_s, f"no extension {number} after {waited:.1f} emulated s"
        wait = max(0.0, await _poll_due_at(stack) - stack.engine.ctx.clock())
        await _pass(stack, wait)
        waited += wait
        await stack.engine.run_until_idle()
    return waited


async def test_without_a_public_url_a_new_user_arrives_by_polling(make_stack: MakeStack) -> None:
    """No subscription, no webhook: the user's extension exists within poll_interval_s plus
    the replication lag, and the polls that found nothing read neither the PBX nor more
    than one delta page."""
    stack = await make_stack(subscribe=False, policy={"poll_interval_s": POLL_S})
    await stack.settle()
    assert not await link_subscriptions(stack.db, stack.link.id)
    stack.directory.create_user(**ANN)
    await stack.engine.run_until_idle()
    assert stack.pbx_state.get("200") is None, "nothing but the poll may bring the user"
    took = await _until_extension(stack, "200", limit_s=4 * POLL_S)
    assert took <= POLL_S + stack.lag_s + 1.0
    assert stack.pbx_state.get("200").settings["email_address"] == "ann.lee@contoso.example"
    assert stack.emus.graph.delivery.counters.posts == 0, "no notification was ever sent"
    kinds = {e.kind for e in await list_events(stack.db, stack.link.id)}
    assert EventKind.NOTIFICATION not in kinds
    assert EventKind.POLL in kinds


async def test_an_empty_poll_reads_no_pbx_and_queues_the_next_poll(make_stack: MakeStack) -> None:
    stack = await make_stack(subscribe=False, policy={"poll_interval_s": POLL_S})
    await stack.settle()
    rows_before = await stack.db.fetchone("SELECT MAX(id) AS id FROM rounds")
    for _ in range(3):
        due = await _poll_due_at(stack)
        await _pass(stack, max(0.0, due - stack.engine.ctx.clock()))
        await stack.engine.run_until_idle()
        assert await _poll_due_at(stack) == due + POLL_S, "the next slot, one interval later"
    rows = await stack.db.fetchall(
        "SELECT stats FROM rounds WHERE id > ?", (rows_before["id"] if rows_before else 0,)
    )
    assert len(rows) == 3
    assert all(json.loads(row["stats"])["pbx_read"] is False for row in rows)
    stats = await queue_stats(stack.db, stack.link.id, stack.engine.ctx.clock())
    assert (stats.due, stats.scheduled, stats.polls) == (0, 0, 1)


async def test_with_push_a_dropped_notification_is_repaired_by_the_safety_poll(
    make_stack: MakeStack,
) -> None:
    """Graph gives up on a notification (our listener was unreachable past its delivery
    horizon); the safety poll brings the user, long before the 12-hour sweep."""
    stack = await make_stack(graph_options={"delivery_horizon_s": 0.0})
    await stack.settle()
    assert await link_subscriptions(stack.db, stack.link.id)
    await stack.server.close()  # the webhook is unreachable now
    stack.directory.create_user(**ANN)
    await stack.emus.graph.delivery_idle()
    assert stack.emus.graph.delivery.counters.dropped >= 1
    await stack.engine.run_until_idle()
    assert stack.pbx_state.get("200") is None
    took = await _until_extension(stack, "200", limit_s=2 * 900)
    assert took <= 900 + stack.lag_s + 1.0, "the safety poll's default is 15 minutes"


async def test_a_throttled_poll_waits_out_retry_after_then_polls_on(
    make_stack: MakeStack,
) -> None:
    """A 429 whose Retry-After is longer than the client's own retry budget fails the poll
    round; its event waits exactly that long, and no second poll piles up meanwhile."""
    stack = await make_stack(subscribe=False, policy={"poll_interval_s": POLL_S})
    await stack.settle()
    rule = stack.emus.graph.faults.add(
        FaultRule(path_pattern=r"/users/delta", kind="status", status=429, retry_after_s=600)
    )
    due = await _poll_due_at(stack)
    await _pass(stack, max(0.0, due - stack.engine.ctx.clock()))
    failed_at = stack.engine.ctx.clock()
    await stack.engine.run_until_idle()
    assert rule.hits == 1
    retry_at = await _poll_due_at(stack)
    assert 600 <= retry_at - failed_at <= 602
    stack.directory.create_user(**ANN)
    took = await _until_extension(stack, "200", limit_s=700)
    assert took >= 590, "the throttled link did not poll before Retry-After ran out"
