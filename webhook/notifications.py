"""Microsoft Graph change and lifecycle notifications.

The handlers only check, persist and answer. They never call Graph or the PBX and
never trust a notification's content beyond "something about this user changed":
the worker re-reads everything from Graph.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import structlog
from aiohttp import web

from edge.inputs import BadInput, read_json
from store.group_commit import enqueue_durably
from store.models import EventKind, NewEvent
from store.subscriptions import client_state_matches
from webhook.keys import DB, SUBSCRIPTIONS, WAKER
from worker.metrics import NOTIFICATIONS, WEBHOOK_LATENCY

log = structlog.get_logger("m365sync.webhook")

MAX_VALIDATION_TOKEN_BYTES = 1024
MAX_ITEMS = 1000
MAX_CLIENT_STATE = 255
# Below Graph's 3 s for an answer: judging and storing together get this long.
STORE_TIMEOUT_S = 2.5
# Graph object ids are GUIDs; anything else in a resource is not from Graph.
_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_RESOURCE = re.compile(r"^/?users/(?P<id>[^/?#]+)$", re.IGNORECASE)
LIFECYCLE_EVENTS = frozenset({"reauthorizationRequired", "subscriptionRemoved", "missed"})


class BadPayload(ValueError):
    """The body is not a Graph notification collection."""


@dataclass(frozen=True, slots=True)
class Verdict:
    accepted: list[NewEvent]
    rejected: dict[str, int]


async def change_notifications(request: web.Request) -> web.StreamResponse:
    with WEBHOOK_LATENCY.labels(endpoint="change").time():
        return await _receive(request, lifecycle=False)


async def lifecycle_notifications(request: web.Request) -> web.StreamResponse:
    with WEBHOOK_LATENCY.labels(endpoint="lifecycle").time():
        return await _receive(request, lifecycle=True)


async def _receive(request: web.Request, *, lifecycle: bool) -> web.StreamResponse:
    if "validationToken" in request.query:
        return _validation_answer(request.query["validationToken"])
    try:
        items = parse_collection(await read_json(request))
    except BadInput as exc:
        # Counted here by endpoint too (input_guard counts every surface), then answered
        # by input_guard: 400, 408, 413 or 415.
        _count(
            lifecycle,
            "rejected_bad_payload" if exc.reason == "bad_json" else f"rejected_{exc.reason}",
        )
        raise
    except BadPayload as exc:
        _count(lifecycle, "rejected_bad_payload")
        raise BadInput(400, "bad_payload", f"bad notification payload: {exc}") from None
    # Graph waits about 3 s for an answer: a store that does not answer in time is
    # unavailable. An enqueue committed anyway is only delivered twice (and coalesced).
    deadline = asyncio.get_running_loop().time() + STORE_TIMEOUT_S
    try:
        # The subscriptions are looked up in the store: without it nothing can be judged.
        async with asyncio.timeout_at(deadline):
            verdict = await _judge(request, items, lifecycle=lifecycle)
    except Exception as exc:
        log.warning("notification.not_judged", error=type(exc).__name__)
        _count(lifecycle, "unavailable", len(items))
        return _unavailable()
    if verdict.accepted:
        try:
            async with asyncio.timeout_at(deadline):
                await enqueue_durably(request.app[DB], verdict.accepted)
        except Exception as exc:
            # Not persisted: answer 5xx so Graph delivers it again.
            log.warning("notification.not_stored", error=type(exc).__name__)
            _count(lifecycle, "unavailable", len(verdict.accepted))
            return _unavailable()
        request.app[WAKER].wake({e.link_id for e in verdict.accepted})
    _count(lifecycle, "accepted", len(verdict.accepted))
    for reason, count in verdict.rejected.items():
        _count(lifecycle, f"rejected_{reason}", count)
    # The access log already has one line per request; say more only when items were
    # refused, which is worth an operator's attention (without the secrets, of course).
    if verdict.rejected:
        log.warning(
            "notification.refused",
            kind="lifecycle" if lifecycle else "change",
            accepted=len(verdict.accepted),
            rejected=verdict.rejected,
        )
    return web.Response(status=202)


def _unavailable() -> web.Response:
    # Retry-After: Graph retries failed deliveries with back-off anyway; a hint for others.
    return web.json_response(
        {"error": "temporarily unavailable"}, status=503, headers={"Retry-After": "5"}
    )


def _count(lifecycle: bool, verdict: str, items: int = 1) -> None:
    if items:
        endpoint = "lifecycle" if lifecycle else "change"
        NOTIFICATIONS.labels(endpoint=endpoint, verdict=verdict).inc(items)


def _validation_answer(token: str) -> web.Response:
    # aiohttp has already URL-decoded the query value, as Graph requires.
    if len(token.encode()) > MAX_VALIDATION_TOKEN_BYTES:
        return web.Response(status=400, text="validationToken too long")
    return web.Response(
        status=200,
        text=token,
        content_type="text/plain",
        headers={"X-Content-Type-Options": "nosniff"},
    )


def parse_collection(data: Any) -> list[Mapping[str, Any]]:
    """The notification items of a decoded body, each with a string subscriptionId."""
    if not isinstance(data, dict) or not isinstance(data.get("value"), list):
        raise BadPayload('expected an object with a "value" array')
    items: list[Mapping[str, Any]] = data["value"]
    if not items or len(items) > MAX_ITEMS:
        raise BadPayload(f"expected 1 to {MAX_ITEMS} notifications")
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("subscriptionId"), str):
            raise BadPayload("each notification needs a subscriptionId")
        if not isinstance(item.get("clientState") or "", str):
            raise BadPayload("clientState must be a string")
    return items


async def _judge(
    request: web.Request, items: list[Mapping[str, Any]], *, lifecycle: bool
) -> Verdict:
    accepted: list[NewEvent] = []
    rejected: dict[str, int] = {}

    def reject(reason: str) -> None:
        rejected[reason] = rejected.get(reason, 0) + 1

    # changeNotification.subscriptionId is a Guid (Microsoft Learn, changeNotification
    # resource type): only those are looked up in the store.
    well_formed = [item for item in items if _GUID.fullmatch(item["subscriptionId"])]
    ids = sorted({item["subscriptionId"] for item in well_formed})
    known = await request.app[SUBSCRIPTIONS].lookup(request.app[DB], ids) if ids else {}
    for _ in range(len(items) - len(well_formed)):
        reject("unknown_subscription")
    for item in well_formed:
        found = known.get(item["subscriptionId"])
        if found is None:
            reject("unknown_subscription")
            continue
        subscription, tenant_id = found
        client_state = item.get("clientState") or ""
        # At most 255 characters (changeNotification.clientState); longer cannot be ours.
        if len(client_state) > MAX_CLIENT_STATE or not client_state_matches(
            subscription, client_state
        ):
            reject("client_state_mismatch")
            continue
        tenant = item.get("tenantId")
        if tenant is not None and (
            not isinstance(tenant, str) or tenant.lower() != tenant_id.lower()
        ):
            reject("tenant_mismatch")
            continue
        event = _lifecycle_event(item, subscription.link_id) if lifecycle else None
        if lifecycle and event is None:
            reject("bad_lifecycle_event")
            continue
        if not lifecycle:
            event = _change_event(item, subscription.link_id)
            if event is None:
                reject("bad_resource")
                continue
        assert event is not None
        accepted.append(event)
    return Verdict(accepted, rejected)


def _change_event(item: Mapping[str, Any], link_id: int) -> NewEvent | None:
    user_id = _user_id(item)
    change_type = item.get("changeType") or "updated"
    if user_id is None or change_type not in ("updated", "deleted", "created"):
        return None
    return NewEvent(
        link_id=link_id,
        kind=EventKind.NOTIFICATION,
        user_id=user_id,
        payload={"changeType": change_type, "subscriptionId": str(item["subscriptionId"])},
    )


def _user_id(item: Mapping[str, Any]) -> str | None:
    data = item.get("resourceData")
    candidate: str | None = None
    if isinstance(data, dict) and isinstance(data.get("id"), str):
        candidate = data["id"]
    else:
        resource = item.get("resource")
        match = _RESOURCE.match(resource) if isinstance(resource, str) else None
        candidate = match.group("id") if match else None
    if candidate is None or not _GUID.fullmatch(candidate):
        return None
    return candidate.lower()


def _lifecycle_event(item: Mapping[str, Any], link_id: int) -> NewEvent | None:
    name = item.get("lifecycleEvent")
    if not isinstance(name, str):
        return None
    if name == "removed":  # the name in older drafts of the docs
        name = "subscriptionRemoved"
    if name not in LIFECYCLE_EVENTS:
        return None
    return NewEvent(
        link_id=link_id,
        kind=EventKind.LIFECYCLE,
        payload={"lifecycleEvent": name, "subscriptionId": str(item["subscriptionId"])},
    )
