"""Plain values the store takes and returns. No I/O here: the planner imports this module."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Removal(StrEnum):
    """Why a directory user is gone, as Graph's delta `@removed.reason` says it."""

    SOFT = "changed"  # soft-deleted: restorable from deletedItems for 30 days
    HARD = "deleted"  # permanently deleted


@dataclass(frozen=True, slots=True)
class DirectoryUser:
    """A Graph user as we last saw it."""

    id: str
    display_name: str | None = None
    given_name: str | None = None
    surname: str | None = None
    mail: str | None = None
    user_principal_name: str | None = None
    business_phones: tuple[str, ...] = ()
    mobile_phone: str | None = None
    account_enabled: bool | None = None
    user_type: str | None = None
    department: str | None = None
    job_title: str | None = None
    employee_id: str | None = None
    # Graph's onPremisesExtensionAttributes, as (extensionAttributeN, value) pairs in order,
    # only those with a value: a group rule may take the extension number from one.
    extension_attributes: tuple[tuple[str, str], ...] = ()
    removed: Removal | None = None
    updated_at: float = 0.0


@dataclass(frozen=True, slots=True)
class Extension:
    """A Vodia account of type `extensions`, as we last read it from the PBX.

    `last_name` is Vodia's `display_name` field, which holds the *last* name.
    """

    number: str
    first_name: str = ""
    last_name: str = ""
    email: str = ""
    cell: str = ""
    disabled: bool = False


@dataclass(frozen=True, slots=True)
class Binding:
    """The anchor: Graph user id <-> extension number, per link."""

    user_id: str
    number: str
    disabled_by_us: bool = False
    bound_at: float = 0.0


class LinkState(StrEnum):
    SETUP_REQUIRED = "setup_required"
    ACTIVE = "active"


class AuthMode(StrEnum):
    APPLICATION = "application"  # client credentials (secret or certificate)
    DELEGATED = "delegated"  # the Vodia manual's Admin Consent + OAuth Token flow


@dataclass(frozen=True, slots=True)
class Link:
    """One Microsoft 365 tenant paired with one Vodia PBX tenant (domain)."""

    id: int
    name: str
    tenant_id: str
    client_id: str
    auth_mode: AuthMode
    pbx_url: str
    pbx_domain: str
    pbx_user: str
    authority_url: str = "https://login.microsoftonline.com"
    graph_url: str = "https://graph.microsoft.com"
    ca_bundle: str | None = None
    settings: Mapping[str, Any] = field(default_factory=dict)
    state: LinkState = LinkState.SETUP_REQUIRED
    state_reason: str = "not set up yet"
    created_at: float = 0.0
    updated_at: float = 0.0


@dataclass(frozen=True, slots=True)
class NewLink:
    """What `create_link` needs; the store assigns id and timestamps."""

    name: str
    tenant_id: str
    client_id: str
    auth_mode: AuthMode
    pbx_url: str
    pbx_domain: str
    pbx_user: str
    authority_url: str = "https://login.microsoftonline.com"
    graph_url: str = "https://graph.microsoft.com"
    ca_bundle: str | None = None
    settings: Mapping[str, Any] = field(default_factory=dict)


class EventStatus(StrEnum):
    PENDING = "pending"
    CLAIMED = "claimed"
    DONE = "done"
    FAILED = "failed"


class EventKind(StrEnum):
    """What put an event in the queue."""

    NOTIFICATION = "notification"  # a Graph change notification for one user
    LIFECYCLE = "lifecycle"  # a Graph lifecycle notification for a subscription
    RECHECK = "recheck"  # a notified user the delta did not show yet, looked at again
    RESYNC = "resync"  # a delta round asked for (a subscription gap; "full" in the payload)
    SWEEP = "sweep"  # the periodic full comparison
    ACTION = "action"  # a PBX write that failed for good; its user is planned again on retry
    POLL = "poll"  # a scheduled delta read: the link's polling (no public URL) or safety poll


class RoundKind(StrEnum):
    ROUND = "round"  # an incremental delta round
    SWEEP = "sweep"  # every in-scope user compared with the PBX, on a schedule
    FULL = "full"  # a manual full comparison (a fresh delta, all users)


class RoundResult(StrEnum):
    """How a round ended, as recorded in the `rounds` table."""

    OK = "ok"
    PARTIAL = "partial"  # done, but some PBX writes failed (they are retried next round)
    RETRY = "retry"  # failed with a transient error; its events will be retried
    ERROR = "error"  # failed with a permanent error


@dataclass(frozen=True, slots=True)
class NewEvent:
    """A unit of work for the worker: a notification, a lifecycle event, a resync request."""

    link_id: int
    kind: EventKind
    user_id: str | None = None
    payload: Mapping[str, Any] = field(default_factory=dict)
    due_at: float | None = None  # None: now


@dataclass(frozen=True, slots=True)
class Event:
    id: int
    link_id: int
    kind: EventKind
    user_id: str | None
    payload: Mapping[str, Any]
    status: EventStatus
    attempts: int
    due_at: float
    lease_until: float | None
    claimed_by: str | None
    last_error: str | None
    created_at: float


@dataclass(frozen=True, slots=True)
class Subscription:
    """A Graph change-notification subscription we created for a link.

    Only a hash of `clientState` is kept: the webhook compares hashes in constant
    time and nothing else ever needs the plain value after creation.
    """

    id: str
    link_id: int
    resource: str
    client_state_hash: bytes
    expires_at: float
    created_at: float = 0.0
    notification_url: str = ""


@dataclass(frozen=True, slots=True)
class AuditEntry:
    link_id: int
    action: str
    outcome: str
    trigger: str
    actor: str = "worker"
    user_id: str | None = None
    number: str | None = None
    before: Mapping[str, Any] = field(default_factory=dict)
    after: Mapping[str, Any] = field(default_factory=dict)
    reason: str = ""
    at: float = 0.0
    id: int = 0


class HeldStatus(StrEnum):
    HELD = "held"
    APPROVED = "approved"
    REJECTED = "rejected"
    APPLIED = "applied"
    WITHDRAWN = "withdrawn"  # the user came back before an admin decided


@dataclass(frozen=True, slots=True)
class HeldAction:
    id: int
    link_id: int
    action: Mapping[str, Any]
    reason: str
    status: HeldStatus
    created_at: float
    decided_by: str | None = None
    decided_at: float | None = None


@dataclass(frozen=True, slots=True)
class RoundRecord:
    """One finished (or failed) round or sweep, for `status` and the links page."""

    link_id: int
    kind: RoundKind
    started_at: float
    finished_at: float
    outcome: RoundResult
    stats: Mapping[str, Any] = field(default_factory=dict)
    error: str = ""
    id: int = 0
