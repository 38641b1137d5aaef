"""/metrics after an end-to-end round, read with prometheus_client's own text parser. The
registry is process-wide, so every check compares values before and after."""

from __future__ import annotations

from typing import Any

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from emulators.faults import FaultRule
from tests.plugins.pipeline import MakeStack, Stack, graph_user

USER = graph_user("Ann", "Lee")


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(stack: Stack) -> Samples:
    url = stack.server.make_url("/metrics")
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = await response.text()
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def delta(before: Samples, after: Samples, name: str, **labels: str) -> float:
    key = (name, frozenset(labels.items()))
    return after.get(key, 0.0) - before.get(key, 0.0)


def total_delta(before: Samples, after: Samples, name: str) -> float:
    def total(samples: Samples) -> float:
        return sum(v for (n, _), v in samples.items() if n == name)

    return total(after) - total(before)


def _pbx_requests(stack: Stack) -> int:
    counts: Any = stack.pbx_state.requests_by_method
    return int(sum(counts.values()))


async def test_metrics_count_what_a_round_did(make_stack: MakeStack) -> None:
    """One created user: one accepted notification, one ok round, one create, and request
    counters that match what the emulators saw (no replication lag: one round exactly)."""
    stack = await make_stack(graph_options={"replication_lag_s": 0.0})
    await stack.settle()
    mo = {"mail": "mo@contoso.example", "userPrincipalName": "mo@contoso.example"}
    stack.directory.create_user(**{**USER, **mo})
    await stack.drain()
    before = await scrape(stack)
    posts_before = stack.emus.graph.delivery.counters.posts
    pbx_before = _pbx_requests(stack)

    stack.directory.create_user(**USER)
    await stack.drain()
    after = await scrape(stack)

    link = stack.link.name
    accepted = {"endpoint": "change", "verdict": "accepted"}
    assert delta(before, after, "m365sync_notifications_total", **accepted) == 1
    posts = stack.emus.graph.delivery.counters.posts - posts_before
    assert delta(before, after, "m365sync_webhook_seconds_count", endpoint="change") == posts
    ok_round = {"link": link, "kind": "round", "outcome": "ok"}
    assert delta(before, after, "m365sync_rounds_total", **ok_round) == 1
    assert delta(before, after, "m365sync_round_seconds_count", link=link, kind="round") == 1
    create_ok = {"link": link, "kind": "create", "outcome": "ok"}
    assert delta(before, after, "m365sync_actions_total", **create_ok) == 1
    assert total_delta(before, after, "m365sync_conflicts_total") == 0
    assert total_delta(before, after, "m365sync_pbx_requests_total") == (
        _pbx_requests(stack) - pbx_before
    )
    assert delta(before, after, "m365sync_pbx_request_seconds_count") == (
        _pbx_requests(stack) - pbx_before
    )
    graph_ok = delta(before, after, "m365sync_graph_requests_total", status="200")
    assert graph_ok >= 1
    assert delta(before, after, "m365sync_graph_request_seconds_count") == total_delta(
        before, after, "m365sync_graph_requests_total"
    )


async def test_rejected_notifications_are_counted_by_reason(make_stack: MakeStack) -> None:
    """An unknown subscription and a malformed body show up under their own verdicts."""
    stack = await make_stack(subscribe=False)
    before = await scrape(stack)
    item = {"subscriptionId": "nope", "clientState": "x", "resource": "Users/abc"}
    async with aiohttp.ClientSession() as session:
        url = stack.server.make_url("/graph/notifications")
        async with session.post(url, json={"value": [item, item]}) as response:
            assert response.status == 202
        json_type = {"Content-Type": "application/json"}
        async with session.post(url, data=b"not json", headers=json_type) as response:
            assert response.status == 400
    after = await scrape(stack)
    unknown = {"endpoint": "change", "verdict": "rejected_unknown_subscription"}
    assert delta(before, after, "m365sync_notifications_total", **unknown) == 2
    bad = {"endpoint": "change", "verdict": "rejected_bad_payload"}
    assert delta(before, after, "m365sync_notifications_total", **bad) == 1
    accepted = {"endpoint": "change", "verdict": "accepted"}
    assert delta(before, after, "m365sync_notifications_total", **accepted) == 0


async def test_retries_and_error_statuses_are_counted_per_peer(make_stack: MakeStack) -> None:
    """Two throttled delta reads and one PBX 503 show as retries and as request statuses."""
    stack = await make_stack()
    await stack.settle()
    before = await scrape(stack)
    graph_fault = stack.emus.graph.faults.add(
        FaultRule(path_pattern=r"/users/delta", kind="status", status=429, count=2, retry_after_s=0)
    )
    pbx_fault = stack.emus.pbx.faults.add(
        FaultRule(path_pattern=r"/addacc", kind="status", status=503, count=1, retry_after_s=0)
    )
    stack.directory.create_user(**USER)
    await stack.drain()
    after = await scrape(stack)
    assert (graph_fault.hits, pbx_fault.hits) == (2, 1)
    assert delta(before, after, "m365sync_retries_total", peer="graph") == 2
    assert delta(before, after, "m365sync_retries_total", peer="pbx") == 1
    assert delta(before, after, "m365sync_graph_requests_total", status="429") == 2
    assert delta(before, after, "m365sync_pbx_requests_total", status="503") == 1
    create_ok = {"link": stack.link.name, "kind": "create", "outcome": "ok"}
    assert delta(before, after, "m365sync_actions_total", **create_ok) == 1


async def test_conflicts_are_counted_by_kind(make_stack: MakeStack) -> None:
    """Two users who find the one-number range taken count as two range_full conflicts."""
    stack = await make_stack(policy={"ranges": "200-200"})
    await stack.settle()
    mo = {"mail": "mo@contoso.example", "userPrincipalName": "mo@contoso.example"}
    stack.directory.create_user(**{**USER, **mo})
    await stack.drain()
    before = await scrape(stack)
    for name in ("ann", "bo"):
        who = {"mail": f"{name}@contoso.example", "userPrincipalName": f"{name}@contoso.example"}
        stack.directory.create_user(**{**USER, **who})
    await stack.drain()
    after = await scrape(stack)
    range_full = {"link": stack.link.name, "kind": "range_full"}
    assert delta(before, after, "m365sync_conflicts_total", **range_full) == 2
    assert total_delta(before, after, "m365sync_actions_total") == 0
