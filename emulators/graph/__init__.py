"""Microsoft Graph v1.0 emulator with the identity platform, over HTTPS on loopback.

    async with GraphEmulator(GraphEmulatorConfig(state_dir=Path("data/emu"))) as emu:
        emu.url, emu.graph_url, emu.authority, emu.ca_path, emu.info()

Graph (Bearer token required; 401 InvalidAuthenticationToken / 403 Authorization_RequestDenied):
    GET/POST   /v1.0/users                        $select, $top ≤ 999, $filter (eq, in,
                                                  startswith, and/or), $skiptoken nextLinks
    GET        /v1.0/users/$count                 ConsistencyLevel: eventual
    GET/PATCH/DELETE /v1.0/users/{id|upn}         DELETE is a soft delete; a PATCH of
                                                  onPremisesExtensionAttributes merges
    GET        /v1.0/users/delta                  also /users/microsoft.graph.delta, delta();
                                                  $select baked into tokens, $filter=id eq …,
                                                  $deltatoken=latest, Prefer: return=minimal,
                                                  Prefer: odata.maxpagesize=N, 7-day tokens,
                                                  skip tokens expire (page_token_lifetime_s):
                                                  400 Directory_ExpiredPageToken
    GET        /v1.0/directory/deletedItems/microsoft.graph.user
    GET/DELETE /v1.0/directory/deletedItems/{id}  DELETE is permanent
    POST       /v1.0/directory/deletedItems/{id}/restore
    GET/POST   /v1.0/groups, GET /v1.0/groups/{id}, …/members, …/transitiveMembers
                                                  GET /v1.0/groups: $filter as on users
                                                  (startswith(displayName,'…'))
    POST       /v1.0/groups/{id}/members/$ref, DELETE /v1.0/groups/{id}/members/{mid}/$ref
    GET/POST   /v1.0/subscriptions                create runs the validation handshake
    GET/PATCH/DELETE /v1.0/subscriptions/{id}, POST /v1.0/subscriptions/{id}/reauthorize

Control API (only with control_enabled; see control.py): /_emulator/faults, clock,
clock/advance, delta/expire, delta/gone, subscriptions/{id}/lifecycle, seed, state,
delivery, lag, users/{id}/touch (an `updated` notification for a property outside any
$select: the delta shows nothing), identity/…; the directory console at /console.

Lifecycle events: only reauthorizationRequired is sent for users by default, as Microsoft
documents (concepts/change-notifications-lifecycle-events.md); subscriptionRemoved and
missed need `lifecycle_fault_injection=True` (fault injection only).
"""

from __future__ import annotations

from emulators.graph.config import GraphEmulatorConfig
from emulators.graph.delivery import DeliveryCounters
from emulators.graph.directory import Directory
from emulators.graph.errors import GraphError
from emulators.graph.server import GraphEmulator

__all__ = ["DeliveryCounters", "Directory", "GraphEmulator", "GraphEmulatorConfig", "GraphError"]
