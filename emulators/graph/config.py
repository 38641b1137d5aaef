"""Settings of one Graph emulator instance."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from emulators.tenant import EmulatedTenant
from emulators.tls import TestCA


@dataclass(frozen=True, slots=True)
class GraphEmulatorConfig:
    state_dir: Path
    host: str = "127.0.0.1"
    port: int = 0
    tenant: EmulatedTenant = field(default_factory=EmulatedTenant)
    seed_users: int = 0
    seed: int = 1
    # The app's configured permissions, granted by admin consent (IdentityOptions.app_roles).
    app_roles: tuple[str, ...] = ("User.Read.All",)
    # Graph accepts only HTTPS notification URLs (subscription-post-subscriptions.md) with a
    # certificate from a CA it trusts. Test switch: tests and the demo, which receive on
    # http://127.0.0.1, turn this on explicitly.
    allow_http_loopback_notifications: bool = False
    control_enabled: bool = True
    delivery_timeout_s: float = 3.0
    validation_timeout_s: float = 10.0
    delivery_horizon_s: float = 4 * 3600.0
    delivery_retry_base_s: float = 0.05
    delivery_retry_max_s: float = 600.0
    latency_s: float = 0.0
    # For Entra ID resources (users) Microsoft documents only reauthorizationRequired
    # (concepts/change-notifications-lifecycle-events.md); subscriptionRemoved and missed
    # are Outlook/Teams events, offered here only as fault injection.
    lifecycle_fault_injection: bool = False
    # Users per delta page when the client sends no odata.maxpagesize.
    delta_page_size: int = 200
    # Skip tokens (nextLinks mid-round) older than this answer 400 Directory_ExpiredPageToken.
    # Microsoft documents no lifetime; third-party reports see them expire within minutes
    # (e.g. after a long Retry-After), a Microsoft PM says paging tokens do not: None keeps
    # them valid, a number makes them expire (see docs/research/graph-fidelity.md).
    page_token_lifetime_s: float | None = None
    # Changes reach delta this many emulated seconds late (Graph's replication lag).
    replication_lag_s: float = 0.0
    # Graph's slow-endpoint policy (see throttling.py); the times compress for tests.
    slow_endpoint_throttling: bool = True
    slow_endpoint_after_s: float = 2.9
    slow_endpoint_min_notifications: int = 100
    slow_endpoint_window_s: float = 600.0
    slow_endpoint_delay_s: float = 600.0
    # One CA for many instances (a service provider's many tenants in one process, as the
    # PBX emulator's `tls`): each instance would otherwise mint its own.
    tls: TestCA | None = None
