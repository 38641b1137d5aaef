"""Request bodies for Graph subscriptions, and finding one we may already have created."""

from __future__ import annotations

import hmac
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


def find_by_client_state(
    subscriptions: Iterable[dict[str, Any]], client_state: str
) -> dict[str, Any] | None:
    """The subscription carrying our (random, per-subscription) clientState, if Graph has it."""
    wanted = client_state.encode()
    for subscription in subscriptions:
        state = subscription.get("clientState")
        if isinstance(state, str) and hmac.compare_digest(state.encode(), wanted):
            return subscription
    return None
