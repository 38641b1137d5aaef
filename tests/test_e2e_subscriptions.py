"""Subscriptions end to end: the real handshake against our app, renewal, recreation,
lifecycle events, and forged notifications."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from emulators.faults import FaultRule
from store.events import list_events
from store.records import last_round
from store.subscriptions import link_subscriptions
from tests.plugins.pipeline import MakeStack, Stack, graph_user
from worker.subscriptions import LIFETIME_S, VERIFY_EVERY_S

USER = graph_user("Ann", "Lee")


def _remote(stack: Stack) -> list[Any]:
    return list(stack.emus.graph.context.subscriptions.all())


async def test_subscription_is_created_through_the_handshake(make_stack: MakeStack) -> None:
    """Maintenance creates one subscription; Graph validated both URLs against our app."""
    stack = await make_stack()
    await stack.settle()
    (remote,) = _remote(stack)
    (local,) = await link_subscriptions(stack.db, stack.link.id)
    assert remote.id == local.id
    assert remote.notification_url == f"{stack.settings.public_url}/graph/notifications"
    assert remote.lifecycle_url == f"{stack.settings.public_url}/graph/lifecycle"
    assert remote.change_types == ("updated", "deleted")
    assert len(remote.client_state) >= 32
    assert local.client_state_hash != remote.client_state.encode()


async def test_subscription_is_renewed_past_half_life(make_stack: MakeStack) -> None:
    """With less than half its lifetime left, the subscription is PATCHed, not recreated."""
    stack = await make_stack()
    await stack.settle()
    (before,) = await link_subscriptions(stack.db, stack.link.id)
    skip_s = LIFETIME_S * 0.6
    stack.emus.graph.advance_clock(skip_s)
    stack.shift_clock(skip_s)
    await stack.engine.scheduler.maintain()
    (after,) = await link_subscriptions(stack.db, stack.link.id)
    assert after.id == before.id
    assert after.expires_at > before.expires_at + skip_s * 0.9
    (remote,) = _remote(stack)
    assert abs(remote.expires_at_s - after.expires_at) < 5


async def test_subscription_is_recreated_when_graph_lost_it(make_stack: MakeStack) -> None:
    """A subscription Graph no longer has is recreated, followed by a catch-up round."""
    stack = await make_stack()
    await stack.settle()
    (old,) = await link_subscriptions(stack.db, stack.link.id)
    stack.emus.graph.context.subscriptions.remove(old.id)
    stack.shift_clock(VERIFY_EVERY_S)  # the next look at Graph
    stack.emus.graph.advance_clock(VERIFY_EVERY_S)
    rounds_before = await last_round(stack.db, stack.link.id)
    await stack.settle()
    (new,) = await link_subscriptions(stack.db, stack.link.id)
    assert new.id != old.id
    assert [s.id for s in _remote(stack)] == [new.id]
    after = await last_round(stack.db, stack.link.id)
    assert after is not None
    assert rounds_before is not None
    assert after.id > rounds_before.id, "a delta round should follow the gap"


async def test_upkeep_running_twice_at_once_keeps_one_subscription(make_stack: MakeStack) -> None:
    """Two upkeeps of one link at once (the minute's maintenance and a lifecycle round,
    say) must not each create a subscription and delete the other's as an orphan: Graph
    and the store end up agreeing on exactly one."""
    stack = await make_stack()
    await stack.settle()
    (old,) = await link_subscriptions(stack.db, stack.link.id)
    stack.emus.graph.context.subscriptions.remove(old.id)
    stack.shift_clock(VERIFY_EVERY_S)
    stack.emus.graph.advance_clock(VERIFY_EVERY_S)
    scheduler = stack.engine.scheduler
    await asyncio.gather(*(scheduler.keep_subscription(stack.link) for _ in range(3)))
    local = [s.id for s in await link_subscriptions(stack.db, stack.link.id)]
    assert [s.id for s in _remote(stack)] == local
    assert len(local) == 1 and local != [old.id]


async def test_lifecycle_subscription_removed_recreates_and_catches_up(
    make_stack: MakeStack,
) -> None:
    """subscriptionRemoved (fault injection: Graph documents it for Outlook and Teams, not
    users) → a new subscription and a delta round that finds missed users."""
    stack = await make_stack(graph_options={"lifecycle_fault_injection": True})
    await stack.settle()
    (remote,) = _remote(stack)
    subscriptions = stack.emus.graph.context.subscriptions
    # Graph drops the subscription; a change happens that nobody is told about; then
    # Graph sends the removal notice (for a subscription it still knew at that moment).
    subscriptions.remove(remote.id)
    stack.directory.create_user(**USER)
    subscriptions.add(remote)
    stack.emus.graph.fire_lifecycle(remote.id, "subscriptionRemoved")  # also removes it
    await stack.drain()
    (new,) = await link_subscriptions(stack.db, stack.link.id)
    assert new.id != remote.id
    assert stack.pbx_state.get("200") is not None, "the missed user was caught up"


async def test_lifecycle_reauthorization_required_reauthorizes(make_stack: MakeStack) -> None:
    """reauthorizationRequired → POST /subscriptions/{id}/reauthorize, then a delta round."""
    stack = await make_stack()
    await stack.settle()
    (sub,) = await link_subscriptions(stack.db, stack.link.id)
    probe = stack.emus.graph.faults.add(
        FaultRule(path_pattern=r"/reauthorize$", kind="latency", count=-1, latency_s=0.0)
    )
    before = await last_round(stack.db, stack.link.id)
    stack.emus.graph.fire_lifecycle(sub.id, "reauthorizationRequired")
    await stack.drain()
    assert probe.hits == 1
    after = await last_round(stack.db, stack.link.id)
    assert before is not None
    assert after is not None
    assert after.id > before.id


async def test_lifecycle_missed_runs_a_delta_round(make_stack: MakeStack) -> None:
    """missed (fault injection, as above) → a delta round, which picks up whatever the
    lost notifications were about."""
    stack = await make_stack(graph_options={"lifecycle_fault_injection": True})
    await stack.settle()
    (sub,) = await link_subscriptions(stack.db, stack.link.id)
    before = await last_round(stack.db, stack.link.id)
    stack.emus.graph.fire_lifecycle(sub.id, "missed")
    await stack.drain()
    after = await last_round(stack.db, stack.link.id)
    assert before is not None
    assert after is not None
    assert after.id > before.id


async def test_forged_notification_with_wrong_client_state_changes_nothing(
    make_stack: MakeStack,
) -> None:
    """A notification with our subscription id but a wrong clientState queues nothing."""
    stack = await make_stack()
    await stack.settle()
    (sub,) = await link_subscriptions(stack.db, stack.link.id)
    events_before = len(await list_events(stack.db, stack.link.id))
    user_id = "4b7a6c1e-2d3f-4a5b-8c9d-0e1f2a3b4c5d"
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            str(stack.server.make_url("/graph/notifications")),
            json={
                "value": [
                    {
                        "subscriptionId": sub.id,
                        "clientState": "guessed",
                        "changeType": "updated",
                        "tenantId": stack.link.tenant_id,
                        "resource": f"Users/{user_id}",
                        "resourceData": {"id": user_id},
                    }
                ]
            },
        ) as resp,
    ):
        assert resp.status == 202
    assert len(await list_events(stack.db, stack.link.id)) == events_before
    await stack.drain()
    assert stack.pbx_state.extensions() == []


async def test_a_trusted_subscription_is_looked_up_every_15_minutes_not_every_pass(
    make_stack: MakeStack,
) -> None:
    """Each maintenance pass (every minute) keeps the subscription; Graph is asked whether
    it still exists once per VERIFY_EVERY_S, not once per pass (60 GETs a link an hour)."""
    stack = await make_stack()
    await stack.settle()
    (sub,) = await link_subscriptions(stack.db, stack.link.id)
    looks = stack.emus.graph.faults.add(
        FaultRule(rf"/subscriptions/{sub.id}$", "latency", count=-1, latency_s=0.0)
    )
    for _ in range(5):
        stack.shift_clock(60)
        await stack.engine.run_until_idle(maintain=True)
    assert looks.hits == 0
    stack.shift_clock(VERIFY_EVERY_S)
    stack.emus.graph.advance_clock(VERIFY_EVERY_S)
    await stack.engine.run_until_idle(maintain=True)
    assert looks.hits == 1
    assert [s.id for s in await link_subscriptions(stack.db, stack.link.id)] == [sub.id]


async def test_upkeep_of_a_trusted_subscription_opens_no_clients(make_stack: MakeStack) -> None:
    """A subscription confirmed within VERIFY_EVERY_S needs no Graph call, so the upkeep
    does not open the link's clients (a token request) just to keep it."""
    stack = await make_stack()
    await stack.settle()
    await stack.engine.clients.drop(stack.link.id)
    assert len(stack.engine.clients) == 0
    await stack.engine.scheduler.keep_subscription(stack.link)
    assert len(stack.engine.clients) == 0
    stack.shift_clock(VERIFY_EVERY_S)
    stack.emus.graph.advance_clock(VERIFY_EVERY_S)
    await stack.engine.scheduler.keep_subscription(stack.link)
    assert len(stack.engine.clients) == 1  # the next look at Graph opens them
