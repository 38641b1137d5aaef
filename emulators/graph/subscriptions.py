"""Change-notification subscriptions on users: the rules Graph enforces on create and
renew, and the store (expired subscriptions vanish by the emulated clock)."""

from __future__ import annotations

import ipaddress
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from emulators.clock import Clock

from .errors import GraphError, not_found

MAX_EXPIRATION_MINUTES = 41_760  # users and other directory resources (graph-api.md §3.1)
MAX_PER_APP = 100
MAX_CLIENT_STATE = 128
USER_CHANGE_TYPES = frozenset({"updated", "deleted"})
_CLOCK_SKEW_S = 60.0


@dataclass(slots=True)
class Subscription:
    id: str
    resource: str
    change_types: tuple[str, ...]
    notification_url: str
    lifecycle_url: str | None
    expires_at_s: float
    client_state: str | None
    application_id: str
    creator_id: str
    tls_version: str

    def covers(self, user_id: str, change_type: str) -> bool:
        if change_type not in self.change_types:
            return False
        _, _, target = self.resource.partition("/")
        return not target or target.lower() == user_id.lower()

    def to_json(self, *, reveal_client_state: bool = False) -> dict[str, Any]:
        """Graph returns clientState only in the answer to the POST that set it; reads
        show null, "not returned for security purposes" (microsoft-graph-docs-contrib,
        api-reference/v1.0/api/subscription-list.md and subscription-get.md, examples)."""
        return {
            "id": self.id,
            "resource": self.resource,
            "applicationId": self.application_id,
            "changeType": ",".join(self.change_types),
            "clientState": self.client_state if reveal_client_state else None,
            "notificationUrl": self.notification_url,
            "notificationQueryOptions": None,
            "lifecycleNotificationUrl": self.lifecycle_url,
            "expirationDateTime": iso_ms(self.expires_at_s),
            "creatorId": self.creator_id,
            "includeResourceData": None,
            "latestSupportedTlsVersion": self.tls_version,
            "encryptionCertificate": None,
            "encryptionCertificateId": None,
            "notificationUrlAppId": None,
        }


def iso_ms(epoch_s: float) -> str:
    stamp = datetime.fromtimestamp(epoch_s, UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond:06d}0Z"


def invalid(message: str, code: str = "InvalidRequest") -> GraphError:
    return GraphError(400, code, message)


def parse_expiration(raw: Any, now_s: float) -> float:
    if not isinstance(raw, str):
        raise invalid("expirationDateTime is a required property for subscription creation.")
    try:
        stamp = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise invalid(
            f"Cannot convert the literal '{raw}' to the expected type 'Edm.DateTimeOffset'."
        ) from None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    expires_at_s = stamp.timestamp()
    if expires_at_s <= now_s:
        raise invalid("Subscription expiration must be in the future.")
    if expires_at_s > now_s + MAX_EXPIRATION_MINUTES * 60 + _CLOCK_SKEW_S:
        raise GraphError(
            400,
            "ExtensionError",
            f"Subscription expiration can only be {MAX_EXPIRATION_MINUTES} minutes in the future.",
        )
    return expires_at_s


def check_url(raw: Any, name: str, *, allow_http_loopback: bool) -> str:
    if not isinstance(raw, str) or not raw:
        raise invalid(f"{name} is a required property for subscription creation.")
    parts = urlsplit(raw)
    if parts.scheme == "https" and parts.hostname:
        return raw
    if parts.scheme == "http" and allow_http_loopback and _is_loopback(parts.hostname or ""):
        return raw
    # The wording Graph has answered with since 2018 (microsoft-graph-docs#2751).
    label = name[0].upper() + name[1:]
    raise invalid(f"{label} scheme='{parts.scheme}' is not supported.")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_change_types(raw: Any) -> tuple[str, ...]:
    if not isinstance(raw, str) or not raw.strip():
        raise invalid("changeType is a required property for subscription creation.")
    types = tuple(dict.fromkeys(part.strip() for part in raw.split(",")))
    unsupported = [t for t in types if t not in USER_CHANGE_TYPES]
    if unsupported:
        raise invalid(
            f"The changeType '{unsupported[0]}' is not supported for resource 'users'. "
            "Supported change types: updated, deleted."
        )
    return types


def parse_resource(raw: Any) -> str:
    if not isinstance(raw, str) or not raw:
        raise invalid("resource is a required property for subscription creation.")
    resource = raw.strip("/")
    head, _, tail = resource.partition("/")
    if head.lower() != "users" or "/" in tail or (tail and "?" in tail):
        raise GraphError(
            400, "ExtensionError", f"Resource '{raw}' is not supported for change notifications."
        )
    return resource


def parse_client_state(raw: Any) -> str | None:
    if raw is None:
        return None
    if not isinstance(raw, str) or len(raw) > MAX_CLIENT_STATE:
        raise invalid(f"clientState must be a string of at most {MAX_CLIENT_STATE} characters.")
    return raw


class Subscriptions:
    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._by_id: dict[str, Subscription] = {}

    def _purge_expired(self) -> None:
        now = self._clock.now()
        for sub_id in [s.id for s in self._by_id.values() if s.expires_at_s <= now]:
            del self._by_id[sub_id]

    def all(self) -> list[Subscription]:
        self._purge_expired()
        return list(self._by_id.values())

    def get(self, sub_id: str) -> Subscription:
        self._purge_expired()
        sub = self._by_id.get(sub_id)
        if sub is None:
            raise not_found(sub_id)
        return sub

    def check_quota(self, application_id: str) -> None:
        owned = sum(1 for s in self.all() if s.application_id == application_id)
        if owned >= MAX_PER_APP:
            raise GraphError(
                403,
                "ExtensionError",
                f"Subscription operation failed. The limit of {MAX_PER_APP} subscriptions per "
                "application per tenant for resource 'users' has been reached.",
            )

    def add(self, sub: Subscription) -> Subscription:
        self._by_id[sub.id] = sub
        return sub

    def remove(self, sub_id: str) -> Subscription:
        sub = self.get(sub_id)
        del self._by_id[sub_id]
        return sub

    def matching(self, user_id: str, change_type: str) -> list[Subscription]:
        return [s for s in self.all() if s.covers(user_id, change_type)]

    @staticmethod
    def new_id() -> str:
        return str(uuid.uuid4())
