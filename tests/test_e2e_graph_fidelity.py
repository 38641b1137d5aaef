"""Issue 13: the product against a Graph emulator that behaves like Microsoft's, not
like our assumptions (clientState on reads, tenants by domain, consented permissions,
lifecycle events for users, notifications the delta does not show, expired page tokens)."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from cli.commands.status import status_of as link_status
from emulators.faults import FaultRule
from store import Database
from store.directory import get_delta_link
from store.events import list_events
from store.links import get_link, update_link
from store.models import EventStatus, Link, LinkState
from store.records import last_round
from store.subscriptions import link_subscriptions
from tests.plugins.pipeline import MakeStack, Stack, graph_user
from worker import metrics
from worker.alerts import Alerts
from worker.graph.client import GraphClient
from worker.linkadmin import check_link, save_settings
from worker.linkctx import LinkClients, client_ssl, open_link_clients
from worker.settings import Settings
from worker.subscriptions import VERIFY_EVERY_S


def _remote(stack: Stack) -> list[Any]:
    return list(stack.emus.graph.context.subscriptions.all())


async def test_lost_subscription_post_leaves_exactly_one(make_stack: MakeStack) -> None:
    """Graph created the subscription but the answer was lost: the product finds it by
    resource, changeType, notificationUrl and applicationId (clientState is null on
    reads) and ends with exactly one subscription, the one it has on record."""
    stack = await make_stack()
    lost = stack.emus.graph.faults.add(
        FaultRule(path_pattern=r"^/v1\.0/subscriptions$", kind="lost_reply", method="POST")
    )
    await stack.settle()
    assert lost.hits == 1
    (remote,) = _remote(stack)
    (local,) = await link_subscriptions(stack.db, stack.link.id)
    assert remote.id == local.id


async def test_extra_subscriptions_of_ours_are_deleted(make_stack: MakeStack) -> None:
    """Subscriptions of ours that we hold no record of (a POST answered after we gave up,
    a crashed process) are deleted when ours is created: exactly one stays."""
    stack = await make_stack()
    await stack.settle()
    (first,) = _remote(stack)
    subscriptions = stack.emus.graph.context.subscriptions
    for _ in range(2):
        subscriptions.add(replace(first, id=subscriptions.new_id(), client_state="unknown"))
    subscriptions.remove(first.id)  # Graph lost ours: the next pass creates one
    stack.shift_clock(VERIFY_EVERY_S)  # the next look at Graph
    stack.emus.graph.advance_clock(VERIFY_EVERY_S)
    await stack.settle()
    (remote,) = _remote(stack)
    (local,) = await link_subscriptions(stack.db, stack.link.id)
    assert remote.id == local.id != first.id


async def test_vanished_subscription_is_recreated_and_caught_up_without_lifecycle_event(
    make_stack: MakeStack,
) -> None:
    """For users Graph documents no subscriptionRemoved: a subscription that vanishes
    says nothing. The maintenance pass sees it gone, creates a new one and runs a delta
    round that catches up the change nobody was told about."""
    stack = await make_stack()
    await stack.settle()
    (old,) = _remote(stack)
    stack.emus.graph.context.subscriptions.remove(old.id)
    stack.shift_clock(VERIFY_EVERY_S)  # the next look at Graph
    stack.emus.graph.advance_clock(VERIFY_EVERY_S)
    stack.directory.create_user(**graph_user("Quiet", "Change"))
    await stack.emus.graph.delivery_idle()
    assert stack.emus.graph.delivery.counters.delivered == 0  # nothing was sent
    assert stack.pbx_state.get("200") is None
    await stack.settle()
    (new,) = _remote(stack)
    (local,) = await link_subscriptions(stack.db, stack.link.id)
    assert new.id == local.id != old.id
    created = stack.pbx_state.get("200")
    assert created is not None, "the missed user was caught up"


async def test_expired_page_token_restarts_the_round_from_the_stored_delta_link(
    make_stack: MakeStack,
) -> None:
    """Graph throttles page 2 of a round with a long Retry-After; by the time the client
    asks again the skip token has expired (400 Directory_ExpiredPageToken). The round
    reads again from the stored deltaLink and applies every change, in one round."""
    graph_time: list[Any] = []

    async def graph_sleep(seconds: float) -> None:
        # The Retry-After passes on Graph's clock, without the test waiting for it.
        graph_time[0].advance_clock(seconds)

    async def clients_factory(db: Database, link: Link, settings: Settings) -> LinkClients:
        clients = await open_link_clients(db, link, settings)
        await clients.graph.close()
        graph = GraphClient(
            link.graph_url, clients.tokens, ssl=client_ssl(link, settings), sleep=graph_sleep
        )
        await graph.__aenter__()
        return replace(clients, graph=graph)

    stack = await make_stack(
        # No replication lag here: the round under test is the one the notifications start.
        graph_options={
            "delta_page_size": 2,
            "page_token_lifetime_s": 60.0,
            "replication_lag_s": 0.0,
        },
        clients_factory=clients_factory,
    )
    graph_time.append(stack.emus.graph)
    await stack.settle()
    stored_before = await get_delta_link(stack.db, stack.link.id)
    throttled = stack.emus.graph.faults.add(
        FaultRule(
            path_pattern=r"^/v1\.0/users/delta$", kind="status", status=429,
            retry_after_s=100, skip=1,
        )
    )  # fmt: skip
    for n in range(5):
        stack.directory.create_user(**graph_user(f"Paged{n}", "User"))
    rounds_before = await last_round(stack.db, stack.link.id)
    await stack.drain()
    assert throttled.hits == 1
    numbers = {e.number for e in stack.pbx_state.extensions()}
    assert len(numbers) == 5, "every user of the round reached the PBX"
    notified = [e for e in await list_events(stack.db, stack.link.id) if e.kind == "notification"]
    assert notified and all(e.status is EventStatus.DONE for e in notified)
    after = await last_round(stack.db, stack.link.id)
    assert rounds_before is not None and after is not None
    assert after.id == rounds_before.id + 1 and after.outcome == "ok"
    assert await get_delta_link(stack.db, stack.link.id) != stored_before


async def test_link_added_by_domain_stores_the_guid_and_accepts_notifications(
    make_stack: MakeStack,
) -> None:
    """`link add --tenant-id contoso.onmicrosoft.com`: the check stores the tenant GUID
    (from the OpenID configuration), so the notifications, which carry the GUID, pass
    the tenant check and the new user reaches the PBX."""
    stack = await make_stack(tenant_id="contoso.onmicrosoft.com")
    link = await get_link(stack.db, stack.link.id)
    assert link.tenant_id == stack.emus.info["tenant_id"]
    await stack.settle()
    stack.directory.create_user(**graph_user("By", "Domain"))
    await stack.drain()
    assert stack.emus.graph.delivery.counters.delivered == 1
    created = stack.pbx_state.get("200")
    assert created is not None, "the notification was accepted and worked"


class RecordingAlerts(Alerts):
    def __init__(self) -> None:
        self.setup: list[str] = []
        self.subscription: list[str] = []

    async def setup_required(self, link: Link, reason: str) -> None:
        self.setup.append(reason)

    async def subscription_failed(self, link: Link, error: str) -> None:
        self.subscription.append(error)


async def test_http_public_url_gets_no_subscription_and_says_why(make_stack: MakeStack) -> None:
    """Graph refuses http:// notification URLs (the emulator too, without its test switch):
    no subscription, an alert that names the https requirement, and sweeps still sync."""
    alerts = RecordingAlerts()
    stack = await make_stack(
        graph_options={"allow_http_loopback_notifications": False}, alerts=lambda _: alerts
    )
    stack.directory.create_user(**graph_user("Swept", "Anyway"))
    await stack.settle()
    assert _remote(stack) == []
    assert await link_subscriptions(stack.db, stack.link.id) == []
    (reason,) = alerts.subscription
    assert "only https://" in reason and "scheme='http' is not supported" in reason
    assert stack.pbx_state.get("200") is not None, "the sweep still synced"


async def test_group_scope_without_group_member_read_all_is_a_setup_state(
    make_stack: MakeStack,
) -> None:
    """Graph answers 403 on transitiveMembers to an app consented only User.Read.All. The
    round does not carry on with an unknown scope: the link shows Setup Required naming
    GroupMember.Read.All (state, `status`, an alert), the check says the same, and once
    the permission is granted the link is checked active and the change syncs."""
    alerts = RecordingAlerts()
    stack = await make_stack(
        graph_options={"app_roles": ("User.Read.All", "GroupMember.Read.All")},
        alerts=lambda _: alerts,
    )
    directory = stack.directory
    group_id = directory.groups.create({"displayName": "Phones", "mailNickname": "phones"})["id"]
    await save_settings(
        stack.db, stack.link.id, {**stack.link.settings, "scope": "groups", "group_ids": group_id}
    )
    await stack.settle()
    client_id = stack.emus.info["client_id"]
    # The admin removes the permission (or never granted it when adding scope=groups).
    stack.emus.graph.identity.set_app_roles(client_id, ("User.Read.All",))
    await update_link(stack.db, stack.link.id, pbx_user=stack.link.pbx_user)  # new clients
    user = directory.create_user(**graph_user("Group", "Member"))
    directory.groups.add_member(group_id, user["id"])
    await stack.drain()

    link = await get_link(stack.db, stack.link.id)
    assert link.state is LinkState.SETUP_REQUIRED
    assert "GroupMember.Read.All" in link.state_reason
    assert alerts.setup and "GroupMember.Read.All" in alerts.setup[0]
    status = await link_status(stack.db, link, stack.settings)
    assert status["state"] == "setup_required"
    assert "GroupMember.Read.All" in status["state_reason"]
    assert stack.pbx_state.extensions() == []
    pending = await list_events(stack.db, stack.link.id, EventStatus.PENDING)
    assert pending, "the notification waits for the fix"

    checked = await check_link(stack.db, stack.link.id, stack.settings)
    assert checked.state is LinkState.SETUP_REQUIRED
    assert "GroupMember.Read.All" in checked.state_reason

    stack.emus.graph.identity.set_app_roles(client_id, ("User.Read.All", "GroupMember.Read.All"))
    checked = await check_link(stack.db, stack.link.id, stack.settings)
    assert checked.state is LinkState.ACTIVE, checked.state_reason
    await stack.drain()
    assert [e.settings["email_address"] for e in stack.pbx_state.extensions()] == [user["mail"]]


def _requests(counter: Any) -> float:
    return sum(
        sample.value
        for metric in counter.collect()
        for sample in metric.samples
        if sample.name.endswith("_total")
    )


async def test_notification_for_an_unselected_property_costs_no_pbx_read(
    make_stack: MakeStack,
) -> None:
    """Graph notifies `updated` for properties outside our $select (a password change,
    officeLocation); the delta shows nothing. The round and its rechecks each cost one
    delta request and no PBX request at all."""
    stack = await make_stack()
    user = stack.directory.create_user(**graph_user("Office", "Mover"))
    await stack.settle()
    assert stack.pbx_state.get("200") is not None
    rounds_before = await last_round(stack.db, stack.link.id)
    pbx_before = _requests(metrics.PBX_REQUESTS)
    graph_before = _requests(metrics.GRAPH_REQUESTS)
    stack.directory.touch_user(user["id"])  # e.g. lastPasswordChangeDateTime
    await stack.drain()
    stack.directory.update_user(user["id"], officeLocation="Room 12")  # not in our $select
    await stack.drain()
    assert stack.emus.graph.delivery.counters.delivered >= 2
    assert _requests(metrics.PBX_REQUESTS) == pbx_before, "no PBX request"
    assert rounds_before is not None
    rows = await stack.db.fetchall(
        "SELECT stats FROM rounds WHERE link_id = ? AND id > ?", (stack.link.id, rounds_before.id)
    )
    rounds = [json.loads(row["stats"]) for row in rows]
    rechecks = len(stack.engine.ctx.config.recheck_delays_s)
    assert len(rounds) == 2 * (1 + rechecks)
    assert all(r["pbx_read"] is False and r["users_changed"] == 0 for r in rounds)
    assert _requests(metrics.GRAPH_REQUESTS) - graph_before == len(rounds)


async def test_rechecks_coalesce_per_user(make_stack: MakeStack) -> None:
    """Three notifications for one user that the delta does not show, each worked before
    the next arrives, leave one recheck waiting for that user, not three."""
    stack = await make_stack(graph_options={"replication_lag_s": 0.0})
    user = stack.directory.create_user(**graph_user("Often", "Touched"))
    await stack.settle()
    for _ in range(3):
        stack.directory.touch_user(user["id"])
        await stack.emus.graph.delivery_idle()
        await stack.engine.run_until_idle()
    pending = await list_events(stack.db, stack.link.id, EventStatus.PENDING)
    assert [e.user_id for e in pending if e.kind == "recheck"] == [user["id"]]
