"""End to end on loopback: changes arrive by polling the deltaLink when Graph cannot push
(no public URL), and a safety poll repairs a lost notification when it can."""

from __future__ import annotations

from collections import Counter

from emulators.faults import FaultRule
from store.events import last_done_at, list_events, queue_stats
from store.models import EventKind, EventStatus, RoundResult
from store.records import last_round
from store.subscriptions import link_subscriptions
from tests.plugins.pipeline import MakeStack, Stack, graph_user
from worker.polling import next_poll_at

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
    """Quiet polls: no PBX request, the next poll one interval later, and no `rounds` row
    (the table would grow by one a minute per link forever); the last poll's time moves."""
    stack = await make_stack(subscribe=False, policy={"poll_interval_s": POLL_S})
    await stack.settle()
    rows_before = await stack.db.fetchone("SELECT COUNT(*) AS n FROM rounds")
    pbx = stack.emus.pbx.faults.add(FaultRule(r".", "latency", count=-1, latency_s=0.0))
    last_polled = []
    for _ in range(3):
        due = await _poll_due_at(stack)
        await _pass(stack, max(0.0, due - stack.engine.ctx.clock()))
        await stack.engine.run_until_idle()
        assert await _poll_due_at(stack) == due + POLL_S, "the next slot, one interval later"
        last_polled.append(await last_done_at(stack.db, stack.link.id, EventKind.POLL))
    assert pbx.hits == 0, "a poll that found nothing read the PBX"
    rows = await stack.db.fetchone("SELECT COUNT(*) AS n FROM rounds")
    assert rows["n"] == rows_before["n"], "quiet polls were recorded as rounds"
    assert last_polled == sorted(last_polled) and len(set(last_polled)) == 3
    stats = await queue_stats(stack.db, stack.link.id, stack.engine.ctx.clock())
    assert (stats.due, stats.scheduled, stats.polls) == (0, 0, 1)


async def test_finished_polls_are_purged_but_the_last_one_is_kept(make_stack: MakeStack) -> None:
    """The maintenance keeps an hour of finished polls, and always the newest per link."""
    stack = await make_stack(subscribe=False, policy={"poll_interval_s": POLL_S})
    await stack.settle()
    for _ in range(5):
        await _pass(stack, max(0.0, await _poll_due_at(stack) - stack.engine.ctx.clock()))
        await stack.engine.run_until_idle()
    sql = "SELECT done_at FROM events WHERE link_id = ? AND kind = 'poll' AND status = 'done'"
    assert len(await stack.db.fetchall(sql, (stack.link.id,))) >= 5
    newest = await last_done_at(stack.db, stack.link.id, EventKind.POLL)
    await _pass(stack, 2 * 3600)
    await stack.engine.run_until_idle(maintain=True)
    # The maintenance kept the newest; the poll due after two hours then added one.
    done = [row["done_at"] for row in await stack.db.fetchall(sql, (stack.link.id,))]
    assert len(done) == 2 and newest in done, done
    await _pass(stack, 2 * 3600)
    await stack.engine.run_until_idle(maintain=True)
    assert newest not in [row["done_at"] for row in await stack.db.fetchall(sql, (stack.link.id,))]


async def test_a_quiet_poll_after_a_failed_round_is_recorded(make_stack: MakeStack) -> None:
    """The status's last round must not keep showing a failure the next poll got past."""
    stack = await make_stack(subscribe=False, policy={"poll_interval_s": POLL_S})
    await stack.settle()
    stack.emus.graph.faults.add(
        FaultRule(path_pattern=r"/users/delta", kind="status", status=429, retry_after_s=600)
    )
    await _pass(stack, max(0.0, await _poll_due_at(stack) - stack.engine.ctx.clock()))
    await stack.engine.run_until_idle()
    failed = await last_round(stack.db, stack.link.id)
    assert failed is not None and failed.outcome is not RoundResult.OK
    await _pass(stack, max(0.0, await _poll_due_at(stack) - stack.engine.ctx.clock()))
    await stack.engine.run_until_idle()
    recovered = await last_round(stack.db, stack.link.id)
    assert recovered is not None and recovered.id != failed.id
    assert recovered.outcome is RoundResult.OK


def test_links_poll_at_stable_phases_spread_over_the_interval() -> None:
    """500 links polling every 60 s: no herd at the minute mark. Each link's slot is the
    same every time it is computed (and after a restart), and the slots fill the minute."""
    interval, now, links = 60.0, 1_700_000_000.0, range(1, 501)
    due = {link: next_poll_at(link, interval, now) for link in links}
    assert all(now < at <= now + interval for at in due.values())
    assert due == {link: next_poll_at(link, interval, now) for link in links}, "stable"
    assert all(next_poll_at(link, interval, due[link]) == due[link] + interval for link in links)
    per_second = Counter(int(at - now) for at in due.values())
    assert len(per_second) >= 55, "the slots cover nearly every second of the minute"
    assert max(per_second.values()) <= 25, f"a herd: {per_second.most_common(3)}"
    at_the_mark = sum(1 for at in due.values() if at % interval < 1.0)
    assert at_the_mark <= 25


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
