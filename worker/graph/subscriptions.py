"""Request bodies for Graph subscriptions, and finding one we may already have created."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

# The most users (and other directory objects) allow; Graph rejects more.
MAX_USER_SUBSCRIPTION_MINUTES = 41_760


def format_expiration(expiration: datetime) -> str:
    """ISO 8601 in UTC with a `Z`, as Graph documents it; naive datetimes are refused."""
    if expiration.tzinfo is None or expiration.utcoffset() is None:
        raise ValueError("expiration must be timezone-aware")
    utc = expiration.astimezone(UTC).replace(microsecond=0)
    return utc.isoformat().replace("+00:00", "Z")


def subscription_body(
    *,
    resource: str,
    change_type: str,
    notification_url: str,
    lifecycle_url: str | None,
    client_state: str,
    expiration: datetime,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "changeType": change_type,
        "notificationUrl": notification_url,
        "resource": resource,
        "expirationDateTime": format_expiration(expiration),
        "clientState": client_state,
        "latestSupportedTlsVersion": "v1_2",
    }
    # lifecycleNotificationUrl can only be set at creation, so send it whenever we have one.
    if lifecycle_url:
        body["lifecycleNotificationUrl"] = lifecycle_url
    return body


def same_change_types(a: object, b: object) -> bool:
    """`updated,deleted` and `deleted,updated` are the same subscription."""
    if not isinstance(a, str) or not isinstance(b, str):
        return False
    return _change_types(a) == _change_types(b)


def _change_types(value: str) -> frozenset[str]:
    return frozenset(part.strip().lower() for part in value.split(",") if part.strip())


def _same_resource(a: object, b: object) -> bool:
    if not isinstance(a, str) or not isinstance(b, str):
        return False
    return a.strip("/").lower() == b.strip("/").lower()


def find_ours(
    subscriptions: Iterable[dict[str, Any]],
    *,
    resource: str,
    change_type: str,
    notification_url: str,
    application_id: str,
) -> list[dict[str, Any]]:
    """Subscriptions that are ours by what Graph returns on reads.

    Graph never returns clientState on GET (it is null, "not returned for security
    purposes": api-reference/v1.0/api/subscription-list.md), so it cannot identify a
    subscription; resource, changeType, notificationUrl and applicationId can.
    """
    wanted_app = application_id.lower()
    return [
        subscription
        for subscription in subscriptions
        if isinstance(subscription.get("id"), str)
        and subscription.get("notificationUrl") == notification_url
        and str(subscription.get("applicationId", "")).lower() == wanted_app
        and _same_resource(subscription.get("resource"), resource)
        and same_change_types(subscription.get("changeType"), change_type)
    ]


def pick_created(candidates: list[dict[str, Any]], expiration: datetime) -> dict[str, Any] | None:
    """Of our subscriptions, the one a lost POST most likely made: Graph keeps the
    expirationDateTime we asked for, so an exact match wins; else the latest expiry."""
    if not candidates:
        return None
    wanted = expiration.astimezone(UTC).replace(microsecond=0).timestamp()

    def expiry(subscription: dict[str, Any]) -> float:
        raw = subscription.get("expirationDateTime")
        if not isinstance(raw, str):
            return 0.0
        try:
            return datetime.fromisoformat(raw.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return 0.0

    exact = [c for c in candidates if abs(expiry(c) - wanted) < 1.0]
    return (exact or sorted(candidates, key=expiry))[-1]
