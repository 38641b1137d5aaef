"""Graph emulator: subscription rules, the validation handshake, delivery and lifecycle
events, against a real loopback webhook receiver."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from emulators.graph.server import GraphEmulator, GraphEmulatorConfig
from emulators.tls import create_test_ca
from tests.plugins.graph_emulator import MakeGraphEmulator, fetch_app_token


class Receiver:
    """A webhook endpoint whose answers the test chooses; it records what arrives."""

    def __init__(self) -> None:
        self.validation = "echo"  # echo | wrong | encoded | error | slow
        self.notify_statuses: list[int] = []  # popped per POST; 202 when empty
        self.notify_delay_s = 0.0
        self.validations: list[tuple[str, str]] = []  # (token, content type)
        self.posts: list[dict[str, Any]] = []
        self.lifecycle_posts: list[dict[str, Any]] = []

    async def handle(self, request: web.Request) -> web.Response:
        token = request.query.get("validationToken")
        if token is not None:
            self.validations.append((token, request.headers.get("Content-Type", "")))
            return await self._validate(token)
        body = await request.json()
        if request.path.endswith("/lifecycle"):
            self.lifecycle_posts.append(body)
            return web.Response(status=202)
        self.posts.append(body)
        status = self.notify_statuses.pop(0) if self.notify_statuses else 202
        if self.notify_delay_s:
            delay_s, self.notify_delay_s = self.notify_delay_s, 0.0
            await asyncio.sleep(delay_s)
        return web.Response(status=status)

    async def _validate(self, token: str) -> web.Response:
        if self.validation == "wrong":
            return web.Response(text=token + " ", content_type="text/plain")
        if self.validation == "encoded":
            return web.Response(text=quote(token), content_type="text/plain")
        if self.validation == "error":
            return web.Response(status=500)
        if self.validation == "slow":
            await asyncio.sleep(2)
        return web.Response(text=token, content_type="text/plain")

    @property
    def items(self) -> list[dict[str, Any]]:
        return [item for post in self.posts for item in post["value"]]


@pytest.fixture
async def receiver(
    aiohttp_server: Callable[[web.Application], Awaitable[TestServer]],
) -> tuple[Receiver, str]:
    hook = Receiver()
    app = web.Application()
    app.router.add_post("/notify", hook.handle)
    app.router.add_post("/lifecycle", hook.handle)
    server = await aiohttp_server(app)
    return hook, str(server.make_url("")).rstrip("/")


def expiry(emulator: GraphEmulator, minutes: float) -> str:
    stamp = datetime.fromtimestamp(emulator.clock.now() + minutes * 60, UTC)
    return stamp.isoformat().replace("+00:00", "Z")


async def subscribe(
    session: aiohttp.ClientSession, emulator: GraphEmulator, base: str, **overrides: Any
) -> tuple[int, dict[str, Any]]:
    body = {
        "changeType": "updated,deleted",
        "resource": "users",
        "notificationUrl": f"{base}/notify",
        "lifecycleNotificationUrl": f"{base}/lifecycle",
        "expirationDateTime": expiry(emulator, 60),
        "clientState": "s3cret",
    }
    body.update(overrides)
    body = {k: v for k, v in body.items() if v is not None}
    async with session.post("/v1.0/subscriptions", json=body) as response:
        return response.status, await response.json()


async def test_create_validates_both_urls_with_exact_token(
    graph_emulator: GraphEmulator,
    graph_session: aiohttp.ClientSession,
    receiver: tuple[Receiver, str],
) -> None:
    """Create POSTs a text/plain validationToken to both URLs and answers 201 with the object."""
    hook, base = receiver
    status, sub = await subscribe(graph_session, graph_emulator, base)
    assert status == 201, sub
    assert sub["resource"] == "users"
    assert sub["changeType"] == "updated,deleted"
    assert sub["applicationId"] == graph_emulator.config.tenant.client_id
    assert sub["clientState"] == "s3cret"
    assert len(hook.validations) == 2
    token, content_type = hook.validations[0]
    assert " " in token  # decoded, not the %20 form
    assert content_type.startswith("text/plain")


@pytest.mark.parametrize(
    ("mode", "code", "message"),
    [
        ("wrong", "ValidationError", "Response must exactly match validationToken"),
        ("encoded", "ValidationError", "Response must exactly match validationToken"),
        ("error", "ValidationError", "HTTP status code is 'InternalServerError'. Notification"),
    ],
)
async def test_failed_handshake_is_400(
    graph_emulator: GraphEmulator,
    graph_session: aiohttp.ClientSession,
    receiver: tuple[Receiver, str],
    mode: str,
    code: str,
    message: str,
) -> None:
    """A wrong body, an URL-encoded echo or a non-200 fails the create with ValidationError."""
    hook, base = receiver
    hook.validation = mode
    status, body = await subscribe(graph_session, graph_emulator, base)
    assert status == 400
    assert body["error"]["code"] == code
    assert message in body["error"]["message"]
    assert graph_emulator.context.subscriptions.all() == []


async def test_handshake_timeout_is_invalid_request(
    make_graph_emulator: MakeGraphEmulator, receiver: tuple[Receiver, str]
) -> None:
    """No answer within the validation deadline → 400 InvalidRequest 'timed out'."""
    hook, base = receiver
    hook.validation = "slow"
    emulator = await make_graph_emulator(validation_timeout_s=0.2)
    async with session_for(emulator) as session:
        await authorize(session, emulator)
        status, body = await subscribe(session, emulator, base)
    assert status == 400
    assert body["error"] == body["error"] | {
        "code": "InvalidRequest",
        "message": "Subscription validation request timed out.",
    }


async def test_unreachable_endpoint_fails_the_create(
    graph_emulator: GraphEmulator, graph_session: aiohttp.ClientSession
) -> None:
    """A notification URL nobody listens on fails the create with 400 InvalidRequest."""
    status, body = await subscribe(
        graph_session, graph_emulator, "http://127.0.0.1:9", lifecycleNotificationUrl=None
    )
    assert (status, body["error"]["code"]) == (400, "InvalidRequest")
    assert body["error"]["message"].startswith("Subscription validation request failed.")


def session_for(emulator: GraphEmulator) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(ssl=emulator.client_ssl_context())
    return aiohttp.ClientSession(base_url=emulator.url, connector=connector)


async def authorize(session: aiohttp.ClientSession, emulator: GraphEmulator) -> None:
    token = await fetch_app_token(emulator, session)
    session.headers["Authorization"] = f"Bearer {token}"


@pytest.mark.parametrize(
    ("overrides", "status", "code"),
    [
        ({"changeType": "created,updated"}, 400, "InvalidRequest"),
        ({"changeType": None}, 400, "InvalidRequest"),
        ({"resource": "groups"}, 400, "ExtensionError"),
        ({"resource": "users/abc/manager"}, 400, "ExtensionError"),
        ({"clientState": "x" * 129}, 400, "InvalidRequest"),
        ({"notificationUrl": "http://example.com/notify"}, 400, "InvalidRequest"),
        ({"lifecycleNotificationUrl": "ftp://127.0.0.1/x"}, 400, "InvalidRequest"),
        ({"latestSupportedTlsVersion": "v2_0"}, 400, "InvalidRequest"),
    ],
)
async def test_create_rules(
    graph_emulator: GraphEmulator,
    graph_session: aiohttp.ClientSession,
    receiver: tuple[Receiver, str],
    overrides: dict[str, Any],
    status: int,
    code: str,
) -> None:
    """changeType ⊆ {updated, deleted}, users resources, clientState ≤ 128, https URLs."""
    _, base = receiver
    got, body = await subscribe(graph_session, graph_emulator, base, **overrides)
    assert (got, body["error"]["code"]) == (status, code)


async def test_expiration_limit_is_41760_minutes(
    graph_emulator: GraphEmulator,
    graph_session: aiohttp.ClientSession,
    receiver: tuple[Receiver, str],
) -> None:
    """Up to 41,760 minutes ahead is accepted; more is 400 ExtensionError; the past is 400."""
    _, base = receiver
    too_far = expiry(graph_emulator, 41_760 + 10)
    status, body = await subscribe(graph_session, graph_emulator, base, expirationDateTime=too_far)
    assert (status, body["error"]["code"]) == (400, "ExtensionError")
    assert "41760 minutes" in body["error"]["message"]
    past = expiry(graph_emulator, -1)
    status, body = await subscribe(graph_session, graph_emulator, base, expirationDateTime=past)
    assert status == 400
    longest = expiry(graph_emulator, 41_760)
    status, body = await subscribe(graph_session, graph_emulator, base, expirationDateTime=longest)
    assert status == 201


async def test_http_loopback_needs_the_setting(
    make_graph_emulator: MakeGraphEmulator, receiver: tuple[Receiver, str]
) -> None:
    """With allow_http_loopback_notifications off, even http://127.0.0.1 is refused."""
    _, base = receiver
    emulator = await make_graph_emulator(allow_http_loopback_notifications=False)
    async with session_for(emulator) as session:
        await authorize(session, emulator)
        status, body = await subscribe(session, emulator, base)
    assert (status, body["error"]["code"]) == (400, "InvalidRequest")
    assert body["error"]["message"] == "NotificationUrl scheme='http' is not supported."


async def test_http_is_refused_by_default(tmp_path: Path, receiver: tuple[Receiver, str]) -> None:
    """Without the test switch the emulator refuses http:// even on loopback, as Graph does."""
    _, base = receiver
    config = GraphEmulatorConfig(state_dir=tmp_path / "default-graph")
    assert config.allow_http_loopback_notifications is False
    async with GraphEmulator(config) as emulator, session_for(emulator) as session:
        await authorize(session, emulator)
        status, body = await subscribe(session, emulator, base)
    assert (status, body["error"]["code"]) == (400, "InvalidRequest")
    assert body["error"]["message"] == "NotificationUrl scheme='http' is not supported."


async def test_webhook_with_the_emulators_own_ca_is_not_trusted(
    graph_emulator: GraphEmulator, graph_session: aiohttp.ClientSession
) -> None:
    """The emulator's test CA is no public CA: an endpoint with a certificate from it fails
    validation like any untrusted one, until the CA is trusted explicitly."""
    hook = Receiver()
    app = web.Application()
    app.router.add_post("/notify", hook.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=_own_ca_context(graph_emulator))
    await site.start()
    try:
        base = f"https://127.0.0.1:{runner.addresses[0][1]}"
        status, body = await subscribe(
            graph_session, graph_emulator, base, lifecycleNotificationUrl=None
        )
        assert (status, body["error"]["code"]) == (400, "ValidationError")
        graph_emulator.trust_notification_ca(graph_emulator.ca_path)
        status, _ = await subscribe(
            graph_session, graph_emulator, base, lifecycleNotificationUrl=None
        )
        assert status == 201
    finally:
        await runner.cleanup()


def _own_ca_context(emulator: GraphEmulator) -> ssl.SSLContext:
    """The server context the emulator itself serves with (a certificate of its CA)."""
    ca = emulator._ca
    assert ca is not None
    return ca.server_context


async def test_quota_is_100_per_app(
    graph_emulator: GraphEmulator,
    graph_session: aiohttp.ClientSession,
    receiver: tuple[Receiver, str],
) -> None:
    """The 101st subscription of one app in the tenant is refused with 403."""
    _, base = receiver
    for _ in range(100):
        status, _body = await subscribe(
            graph_session, graph_emulator, base, lifecycleNotificationUrl=None
        )
        assert status == 201
    status, body = await subscribe(graph_session, graph_emulator, base)
    assert status == 403
    assert "100" in body["error"]["message"]


async def test_list_get_renew_reauthorize_delete(
    graph_emulator: GraphEmulator,
    graph_session: aiohttp.ClientSession,
    receiver: tuple[Receiver, str],
) -> None:
    """GET lists and reads; PATCH renews; reauthorize is 204; DELETE is 204 then 404."""
    _, base = receiver
    _, sub = await subscribe(graph_session, graph_emulator, base)
    url = f"/v1.0/subscriptions/{sub['id']}"
    async with graph_session.get("/v1.0/subscriptions") as response:
        assert [s["id"] for s in (await response.json())["value"]] == [sub["id"]]
    renewed_to = expiry(graph_emulator, 40_000)
    async with graph_session.patch(url, json={"expirationDateTime": renewed_to}) as response:
        renewed = await response.json()
    assert response.status == 200
    assert renewed["expirationDateTime"][:19] == renewed_to[:19]
    async with graph_session.post(f"{url}/reauthorize") as response:
        assert response.status == 204
    async with graph_session.get(url) as response:
        assert response.status == 200
    async with graph_session.delete(url) as response:
        assert response.status == 204
    async with graph_session.get(url) as response:
        assert response.status == 404


async def test_expired_subscriptions_vanish(
    graph_emulator: GraphEmulator,
    graph_session: aiohttp.ClientSession,
    receiver: tuple[Receiver, str],
) -> None:
    """Once the emulated clock passes expirationDateTime the subscription is gone."""
    hook, base = receiver
    _, sub = await subscribe(graph_session, graph_emulator, base)
    graph_emulator.advance_clock(3601)
    token = await fetch_app_token(graph_emulator, graph_session)
    headers = {"Authorization": f"Bearer {token}"}
    async with graph_session.get(f"/v1.0/subscriptions/{sub['id']}", headers=headers) as response:
        assert response.status == 404
    graph_emulator.directory.create_user(displayName="A", userPrincipalName="a@contoso.example")
    await graph_emulator.delivery_idle()
    assert hook.posts == []


async def test_every_change_kind_is_notified(
    graph_emulator: GraphEmulator,
    graph_session: aiohttp.ClientSession,
    receiver: tuple[Receiver, str],
) -> None:
    """Create, update, soft delete and restore notify 'updated'; hard delete 'deleted'."""
    hook, base = receiver
    _, sub = await subscribe(graph_session, graph_emulator, base)
    directory = graph_emulator.directory
    user_id = directory.create_user(displayName="A", userPrincipalName="a@contoso.example")["id"]
    for change in (
        lambda: directory.update_user(user_id, jobTitle="X"),
        lambda: directory.soft_delete_user(user_id),
        lambda: directory.restore_user(user_id),
        lambda: directory.hard_delete_user(user_id),
    ):
        await graph_emulator.delivery_idle()
        change()
    await graph_emulator.delivery_idle()
    assert [item["changeType"] for item in hook.items] == ["updated"] * 4 + ["deleted"]
    tenant_id = graph_emulator.config.tenant.tenant_id
    assert hook.items[0] == {
        "subscriptionId": sub["id"],
        "subscriptionExpirationDateTime": sub["expirationDateTime"],
        "changeType": "updated",
        "resource": f"Users/{user_id}",
        "resourceData": {
            "@odata.type": "#Microsoft.Graph.User",
            "@odata.id": f"Users/{user_id}",
            "id": user_id,
            "organizationId": tenant_id,
        },
        "clientState": "s3cret",
        "tenantId": tenant_id,
    }
    assert graph_emulator.delivery.counters.delivered == 5


async def test_resource_and_change_type_filter_notifications(
    graph_emulator: GraphEmulator,
    graph_session: aiohttp.ClientSession,
    receiver: tuple[Receiver, str],
) -> None:
    """A users/{id} subscription hears only that user; a 'deleted' one only hard deletes."""
    hook, base = receiver
    directory = graph_emulator.directory
    watched = directory.create_user(displayName="W", userPrincipalName="w@contoso.example")["id"]
    other = directory.create_user(displayName="O", userPrincipalName="o@contoso.example")["id"]
    await subscribe(graph_session, graph_emulator, base, resource=f"users/{watched}")
    await subscribe(graph_session, graph_emulator, base, changeType="deleted")
    directory.update_user(watched, jobTitle="1")
    directory.update_user(other, jobTitle="2")
    directory.hard_delete_user(other)
    await graph_emulator.delivery_idle()
    seen = sorted((item["resourceData"]["id"], item["changeType"]) for item in hook.items)
    assert seen == sorted([(watched, "updated"), (other, "deleted")])


async def test_pending_notifications_are_batched(
    graph_emulator: GraphEmulator,
    graph_session: aiohttp.ClientSession,
    receiver: tuple[Receiver, str],
) -> None:
    """Changes made while nothing was sent yet go out in one POST."""
    hook, base = receiver
    await subscribe(graph_session, graph_emulator, base)
    graph_emulator.directory.seed(5, seed=1)
    await graph_emulator.delivery_idle()
    assert len(hook.posts) == 1
    assert len(hook.posts[0]["value"]) == 5


async def test_failed_delivery_is_retried_then_dropped(
    make_graph_emulator: MakeGraphEmulator, receiver: tuple[Receiver, str]
) -> None:
    """An endpoint that keeps failing gets retries with backoff until the horizon, then a drop."""
    hook, base = receiver
    hook.notify_statuses = [500] * 100
    emulator = await make_graph_emulator(delivery_horizon_s=0.4, delivery_retry_base_s=0.05)
    async with session_for(emulator) as session:
        await authorize(session, emulator)
        await subscribe(session, emulator, base)
    emulator.directory.create_user(displayName="A", userPrincipalName="a@contoso.example")
    await asyncio.wait_for(emulator.delivery_idle(), 5)
    counters = emulator.delivery.counters
    assert (counters.delivered, counters.dropped) == (0, 1)
    assert counters.retried >= 2
    assert len(hook.posts) == counters.retried + 1


async def test_slow_or_failing_endpoint_is_retried_until_delivered(
    make_graph_emulator: MakeGraphEmulator, receiver: tuple[Receiver, str]
) -> None:
    """A reply slower than the delivery timeout, then a 503, count as failures; a 202 ends it."""
    hook, base = receiver
    hook.notify_delay_s = 0.5
    hook.notify_statuses = [202, 503]
    emulator = await make_graph_emulator(delivery_timeout_s=0.2, delivery_retry_base_s=0.01)
    async with session_for(emulator) as session:
        await authorize(session, emulator)
        await subscribe(session, emulator, base)
    emulator.directory.create_user(displayName="A", userPrincipalName="a@contoso.example")
    await asyncio.wait_for(emulator.delivery_idle(), 5)
    counters = emulator.delivery.counters
    assert (counters.delivered, counters.retried, counters.dropped) == (1, 2, 0)
    assert len(hook.posts) == 3


@pytest.mark.parametrize("event", ["reauthorizationRequired", "missed", "subscriptionRemoved"])
async def test_lifecycle_events_via_control_api(
    make_graph_emulator: MakeGraphEmulator,
    receiver: tuple[Receiver, str],
    event: str,
) -> None:
    """A fired lifecycle event reaches lifecycleNotificationUrl; subscriptionRemoved removes it
    (missed and subscriptionRemoved only with the fault-injection switch)."""
    hook, base = receiver
    emulator = await make_graph_emulator(lifecycle_fault_injection=True)
    async with session_for(emulator) as session:
        await authorize(session, emulator)
        _, sub = await subscribe(session, emulator, base)
        url = f"/_emulator/subscriptions/{sub['id']}/lifecycle"
        async with session.post(url, json={"event": event}) as response:
            assert response.status == 202
    await emulator.delivery_idle()
    (item,) = hook.lifecycle_posts[0]["value"]
    assert item == {
        "subscriptionId": sub["id"],
        "subscriptionExpirationDateTime": sub["expirationDateTime"],
        "tenantId": emulator.config.tenant.tenant_id,
        "clientState": "s3cret",
        "lifecycleEvent": event,
    }
    still_there = [s.id for s in emulator.context.subscriptions.all()] == [sub["id"]]
    assert still_there is (event != "subscriptionRemoved")


@pytest.mark.parametrize("event", ["missed", "subscriptionRemoved"])
async def test_outlook_lifecycle_events_are_off_for_users_by_default(
    graph_emulator: GraphEmulator,
    graph_session: aiohttp.ClientSession,
    receiver: tuple[Receiver, str],
    event: str,
) -> None:
    """Microsoft documents only reauthorizationRequired for Entra ID resources: by default
    the emulator refuses to send the others, and the subscription stays."""
    hook, base = receiver
    _, sub = await subscribe(graph_session, graph_emulator, base)
    url = f"/_emulator/subscriptions/{sub['id']}/lifecycle"
    async with graph_session.post(url, json={"event": event}) as response:
        assert response.status == 400
        assert "lifecycle_fault_injection" in await response.text()
    with pytest.raises(ValueError, match="not sent for users"):
        graph_emulator.fire_lifecycle(sub["id"], event)
    await graph_emulator.delivery_idle()
    assert hook.lifecycle_posts == []
    assert [s.id for s in graph_emulator.context.subscriptions.all()] == [sub["id"]]


async def test_lifecycle_event_by_method_and_bad_event(
    graph_emulator: GraphEmulator,
    graph_session: aiohttp.ClientSession,
    receiver: tuple[Receiver, str],
) -> None:
    """fire_lifecycle() works from Python; an unknown event name is a 400 on the control API."""
    hook, base = receiver
    _, sub = await subscribe(graph_session, graph_emulator, base)
    graph_emulator.fire_lifecycle(sub["id"], "reauthorizationRequired")
    await graph_emulator.delivery_idle()
    assert hook.lifecycle_posts[0]["value"][0]["lifecycleEvent"] == "reauthorizationRequired"
    url = f"/_emulator/subscriptions/{sub['id']}/lifecycle"
    async with graph_session.post(url, json={"event": "exploded"}) as response:
        assert response.status == 400


async def test_slow_endpoint_is_dropped_at_15_percent(
    make_graph_emulator: MakeGraphEmulator, receiver: tuple[Receiver, str]
) -> None:
    """Once enough notifications went out and ≥ 15 % were slow, new ones are dropped."""
    hook, base = receiver
    emulator = await make_graph_emulator(
        slow_endpoint_after_s=0.05, slow_endpoint_min_notifications=10
    )
    async with session_for(emulator) as session:
        await authorize(session, emulator)
        await subscribe(session, emulator, base)
    hook.notify_delay_s = 0.1
    emulator.directory.seed(10, seed=1)
    await emulator.delivery_idle()
    emulator.directory.create_user(displayName="A", userPrincipalName="a@contoso.example")
    await emulator.delivery_idle()
    counters = emulator.delivery.counters
    assert (counters.delivered, counters.throttled, counters.dropped) == (10, 1, 1)
    assert len(hook.items) == 10


async def test_slow_endpoint_is_delayed_at_10_percent(
    make_graph_emulator: MakeGraphEmulator, receiver: tuple[Receiver, str]
) -> None:
    """Between 10 % and 15 % slow, notifications are held back for the delay, then sent."""
    hook, base = receiver
    emulator = await make_graph_emulator(
        slow_endpoint_after_s=0.05, slow_endpoint_min_notifications=10, slow_endpoint_delay_s=0.2
    )
    async with session_for(emulator) as session:
        await authorize(session, emulator)
        await subscribe(session, emulator, base)
    directory = emulator.directory
    hook.notify_delay_s = 0.1
    directory.create_user(displayName="Slow", userPrincipalName="slow@contoso.example")
    await emulator.delivery_idle()
    directory.seed(9, seed=1)
    await emulator.delivery_idle()
    assert emulator.delivery.counters.throttled == 0
    directory.create_user(displayName="Held", userPrincipalName="held@contoso.example")
    await emulator.delivery_idle()
    counters = emulator.delivery.counters
    assert (counters.delivered, counters.throttled, counters.dropped) == (11, 1, 0)


async def test_https_webhook_with_its_own_ca_needs_trust(
    graph_emulator: GraphEmulator, graph_session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """An HTTPS endpoint signed by an unknown CA fails validation until that CA is trusted."""
    hook = Receiver()
    app = web.Application()
    app.router.add_post("/notify", hook.handle)
    hook_ca = create_test_ca(tmp_path / "hook-ca")
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=hook_ca.server_context)
    await site.start()
    try:
        base = f"https://127.0.0.1:{runner.addresses[0][1]}"
        status, body = await subscribe(
            graph_session, graph_emulator, base, lifecycleNotificationUrl=None
        )
        # What Graph answers when TLS with the endpoint fails (see handshake.py).
        assert (status, body["error"]["code"]) == (400, "ValidationError")
        assert "Could not create SSL/TLS secure channel" in body["error"]["message"]
        graph_emulator.trust_notification_ca(str(hook_ca.ca_path))
        status, _ = await subscribe(
            graph_session, graph_emulator, base, lifecycleNotificationUrl=None
        )
        assert status == 201
        graph_emulator.directory.create_user(displayName="A", userPrincipalName="a@contoso.example")
        await graph_emulator.delivery_idle()
        assert len(hook.items) == 1
    finally:
        await runner.cleanup()
