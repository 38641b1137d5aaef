"""GraphClient subscriptions against the Graph emulator, with a real receiver on loopback."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from emulators.graph.server import GraphEmulator
from tests.test_graph_client_emulator import MakeGraphEmulator, graph_client
from worker.errors import GraphError

AiohttpServer = Callable[[web.Application], Awaitable[TestServer]]


@dataclass
class Receiver:
    """Answers Graph's validation handshake and keeps the notifications it is sent."""

    url: str = ""
    validations: list[str] = field(default_factory=list)
    notifications: list[dict[str, Any]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        token = request.query.get("validationToken")
        if token is not None:
            self.validations.append(request.path)
            return web.Response(text=token, content_type="text/plain")
        self.notifications.append(await request.json())
        return web.Response(status=202)


@pytest.fixture(name="receiver")
async def _receiver(aiohttp_server: AiohttpServer) -> Receiver:
    receiver = Receiver()
    app = web.Application()
    app.router.add_post("/graph/{kind}", receiver.handle)
    server = await aiohttp_server(app)
    receiver.url = str(server.make_url("/graph"))
    return receiver


def in_days(days: float, emulator: GraphEmulator) -> datetime:
    """A time `days` ahead of the emulator's (possibly advanced) clock."""
    return datetime.fromtimestamp(emulator.clock.now(), UTC) + timedelta(days=days)


async def test_subscription_lifecycle(
    make_graph_emulator: MakeGraphEmulator, receiver: Receiver
) -> None:
    """Create (handshake answered), get, list, renew, reauthorize, delete, delete again."""
    emulator = await make_graph_emulator(seed_users=2)
    client_state = secrets.token_urlsafe(24)
    async with graph_client(emulator) as client:
        created = await client.create_subscription(
            "users",
            "updated,deleted",
            f"{receiver.url}/notifications",
            f"{receiver.url}/lifecycle",
            client_state,
            in_days(2, emulator),
            application_id=emulator.config.tenant.client_id,
        )
        subscription_id = created["id"]
        fetched = await client.get_subscription(subscription_id)
        listed = await client.list_subscriptions()
        renewed = await client.renew_subscription(subscription_id, in_days(20, emulator))
        await client.reauthorize_subscription(subscription_id)
        await client.delete_subscription(subscription_id)
        after_delete = await client.get_subscription(subscription_id)
        await client.delete_subscription(subscription_id)  # already gone: tolerated

    assert sorted(receiver.validations) == ["/graph/lifecycle", "/graph/notifications"]
    assert created["resource"] == "users"
    assert created["clientState"] == client_state
    assert fetched is not None
    assert fetched["id"] == subscription_id
    assert [s["id"] for s in listed] == [subscription_id]
    # Graph never returns clientState on reads (subscription-list.md, subscription-get.md).
    assert fetched["clientState"] is None
    assert [s["clientState"] for s in listed] == [None]
    assert renewed["expirationDateTime"] > created["expirationDateTime"]
    assert after_delete is None


async def test_subscription_delivers_a_user_change(
    make_graph_emulator: MakeGraphEmulator, receiver: Receiver
) -> None:
    """A subscription made by the client receives the notification for a changed user."""
    emulator = await make_graph_emulator(seed_users=2)
    client_state = secrets.token_urlsafe(24)
    user_id = emulator.directory.active_ids()[0]
    async with graph_client(emulator) as client:
        created = await client.create_subscription(
            "users", "updated", f"{receiver.url}/notifications", None, client_state,
            in_days(1, emulator), application_id=emulator.config.tenant.client_id,
        )  # fmt: skip
    emulator.directory.update_user(user_id, jobTitle="Notified")
    await emulator.delivery_idle()
    items = [item for body in receiver.notifications for item in body["value"]]
    assert [(i["subscriptionId"], i["clientState"]) for i in items] == [
        (created["id"], client_state)
    ]
    assert items[0]["resourceData"]["id"] == user_id


async def test_refused_subscription_is_a_graph_error(
    make_graph_emulator: MakeGraphEmulator, receiver: Receiver
) -> None:
    """An expiration past Graph's limit for users comes back as a GraphError (400)."""
    emulator = await make_graph_emulator()
    async with graph_client(emulator) as client:
        with pytest.raises(GraphError) as caught:
            await client.create_subscription(
                "users", "updated,deleted", f"{receiver.url}/notifications", None, "s",
                in_days(40, emulator), application_id=emulator.config.tenant.client_id,
            )  # fmt: skip
    assert caught.value.status == 400
    assert caught.value.code
