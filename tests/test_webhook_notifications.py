"""The notification endpoints, through the real aiohttp app on loopback."""

from __future__ import annotations

import io
import json
import sqlite3
import time
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from store import Database
from store.events import list_events
from store.models import Link, Subscription
from store.subscriptions import client_state_hash, put_subscription
from webhook.app import create_app
from worker.settings import Settings

USER_ID = "4b7a6c1e-2d3f-4a5b-8c9d-0e1f2a3b4c5d"
TENANT_ID = "7f3c2a10-5b1e-4c7d-9a2e-0d4b6c8e1f20"
SUB_ID = "9a8b7c6d-5e4f-4a3b-2c1d-0e9f8a7b6c5d"
CLIENT_STATE = "s3cret-client-state"


@pytest.fixture
async def client(aiohttp_client: Any, db: Database, link: Link) -> TestClient[Any, Any]:
    await put_subscription(
        db,
        Subscription(
            id=SUB_ID,
            link_id=link.id,
            resource="users",
            client_state_hash=client_state_hash(CLIENT_STATE),
            expires_at=time.time() + 3600,
            notification_url="https://sync.example/graph/notifications",
        ),
    )
    return await aiohttp_client(create_app(Settings(), db=db))  # type: ignore[no-any-return]


def _item(**overrides: Any) -> dict[str, Any]:
    item = {
        "subscriptionId": SUB_ID,
        "subscriptionExpirationDateTime": "2026-12-20T00:00:00Z",
        "clientState": CLIENT_STATE,
        "changeType": "updated",
        "tenantId": TENANT_ID,
        "resource": f"Users/{USER_ID}",
        "resourceData": {
            "@odata.type": "#Microsoft.Graph.User",
            "@odata.id": f"Users/{USER_ID}",
            "id": USER_ID,
        },
    }
    item.update(overrides)
    return item


async def test_validation_handshake_echoes_the_decoded_token(client: TestClient[Any, Any]) -> None:
    """?validationToken=… is answered 200 text/plain with the URL-decoded token and nosniff."""
    for path in ("/graph/notifications", "/graph/lifecycle"):
        resp = await client.post(path, params={"validationToken": "Validation: a+b/c=&<x>"})
        assert resp.status == 200
        assert resp.content_type == "text/plain"
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        assert await resp.text() == "Validation: a+b/c=&<x>"


async def test_overlong_validation_token_is_refused(client: TestClient[Any, Any]) -> None:
    """A validation token over 1 KiB gets 400."""
    resp = await client.post("/graph/notifications", params={"validationToken": "x" * 1025})
    assert resp.status == 400


async def test_accepted_notification_becomes_an_event(
    client: TestClient[Any, Any], db: Database, link: Link
) -> None:
    """A notification with the right clientState is stored as an event before the 202."""
    resp = await client.post("/graph/notifications", json={"value": [_item()]})
    assert resp.status == 202
    (event,) = await list_events(db, link.id)
    assert event.kind == "notification"
    assert event.user_id == USER_ID
    assert event.payload["changeType"] == "updated"
    assert CLIENT_STATE not in json.dumps(dict(event.payload))


async def test_batch_of_many_items_is_one_transaction(
    client: TestClient[Any, Any], db: Database, link: Link
) -> None:
    """Several notifications in one POST all become events."""
    ids = [f"4b7a6c1e-2d3f-4a5b-8c9d-0e1f2a3b4c{i:02d}" for i in range(20)]
    items = [_item(resourceData={"id": i}, resource=f"Users/{i}") for i in ids]
    resp = await client.post("/graph/notifications", json={"value": items})
    assert resp.status == 202
    assert sorted(e.user_id or "" for e in await list_events(db, link.id)) == sorted(ids)


@pytest.mark.parametrize(
    "item",
    [
        _item(clientState="wrong"),
        _item(clientState=None),
        _item(subscriptionId="00000000-0000-4000-8000-000000000000"),
        _item(tenantId="00000000-0000-4000-8000-000000000000"),
        _item(resourceData={"id": "../../etc/passwd"}, resource="Users/../../etc/passwd"),
    ],
    ids=[
        "wrong-client-state",
        "no-client-state",
        "unknown-subscription",
        "other-tenant",
        "junk-id",
    ],
)
async def test_untrusted_items_are_dropped_but_answered_202(
    client: TestClient[Any, Any], db: Database, link: Link, item: dict[str, Any]
) -> None:
    """Wrong clientState, unknown subscription, foreign tenant or junk ids: 202, nothing stored."""
    resp = await client.post("/graph/notifications", json={"value": [item]})
    assert resp.status == 202
    assert await list_events(db, link.id) == []


async def test_resource_path_is_used_when_resource_data_is_missing(
    client: TestClient[Any, Any], db: Database, link: Link
) -> None:
    """Lenient: `users/<id>` (any case) in `resource` names the user when resourceData is absent."""
    item = _item(resource=f"users/{USER_ID.upper()}")
    del item["resourceData"]
    assert (await client.post("/graph/notifications", json={"value": [item]})).status == 202
    (event,) = await list_events(db, link.id)
    assert event.user_id == USER_ID


@pytest.mark.parametrize(
    "body",
    [b"not json", b"[]", b'{"value": "x"}', b'{"value": []}', b'{"value": [{"x": 1}]}'],
)
async def test_malformed_bodies_get_400(client: TestClient[Any, Any], body: bytes) -> None:
    """Bodies that are not a Graph notification collection are refused with 400."""
    resp = await client.post(
        "/graph/notifications", data=body, headers={"Content-Type": "application/json"}
    )
    assert resp.status == 400


async def test_oversized_body_is_refused_with_413(client: TestClient[Any, Any]) -> None:
    """Over 1 MiB is refused, whether the length is declared or the body is chunked."""
    json_type = {"Content-Type": "application/json"}
    big = io.BytesIO(b"x" * (1024 * 1024 + 1))
    assert (await client.post("/graph/notifications", data=big)).status == 413

    async def chunks() -> Any:
        for _ in range(20):
            yield b"y" * 65536

    resp = await client.post("/graph/notifications", data=chunks(), headers=json_type)
    assert resp.status == 413


async def test_lifecycle_events_are_stored(
    client: TestClient[Any, Any], db: Database, link: Link
) -> None:
    """reauthorizationRequired, subscriptionRemoved and missed become lifecycle events."""
    items = [
        {
            "subscriptionId": SUB_ID,
            "clientState": CLIENT_STATE,
            "tenantId": TENANT_ID,
            "lifecycleEvent": name,
        }
        for name in ("reauthorizationRequired", "subscriptionRemoved", "missed", "bogus")
    ]
    resp = await client.post("/graph/lifecycle", json={"value": items})
    assert resp.status == 202
    events = await list_events(db, link.id)
    assert sorted(e.payload["lifecycleEvent"] for e in events) == [
        "missed",
        "reauthorizationRequired",
        "subscriptionRemoved",
    ]


async def test_store_failure_answers_503_so_graph_retries(
    client: TestClient[Any, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """If the events cannot be committed the answer is 503, never 202."""

    async def locked(*args: Any, **kwargs: Any) -> int:
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr("webhook.notifications.enqueue_durably", locked)
    resp = await client.post("/graph/notifications", json={"value": [_item()]})
    assert resp.status == 503
