"""Many emulated tenants on one PBX: a service provider's links, for tests and benchmarks.

Tenant `label` is the Microsoft 365 tenant `<label>.example` (one Graph emulator each,
sharing one test CA and one multi-tenant app registration: the same client id, consented
in every tenant) and the PBX domain `<label>.pbx.example`.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from emulators.graph.config import GraphEmulatorConfig
from emulators.graph.server import GraphEmulator
from emulators.harness import emulator_info
from emulators.pbx import PbxEmulator
from emulators.tenant import EmulatedTenant
from emulators.tls import TestCA


def fleet_tenant(n: int, label: str) -> EmulatedTenant:
    return EmulatedTenant(
        tenant_id=str(uuid.UUID(int=n + 1)),
        domain=f"{label}.example",
        initial_domain=f"{label}.onmicrosoft.com",
        admin_upn=f"admin@{label}.example",
    )


def fleet_domain(label: str) -> str:
    return f"{label}.pbx.example"


def fleet_user(tenant: EmulatedTenant, k: int) -> dict[str, Any]:
    """User k of a tenant, as `directory.create_user` takes it."""
    mail = f"user{k:05d}@{tenant.domain}"
    return {
        "displayName": f"User {k}",
        "givenName": "User",
        "surname": f"N{k}",
        "mail": mail,
        "userPrincipalName": mail,
        "accountEnabled": True,
        "userType": "Member",
    }


async def start_fleet_graph(
    state_dir: Path, tenant: EmulatedTenant, ca: TestCA, *, allow_http_loopback: bool = False
) -> GraphEmulator:
    """The tenant's Graph emulator, started, with the app's admin consent granted."""
    graph = GraphEmulator(
        GraphEmulatorConfig(
            state_dir=state_dir,
            tenant=tenant,
            tls=ca,
            allow_http_loopback_notifications=allow_http_loopback,
        )
    )
    await graph.start()
    graph.identity.grant_admin_consent(tenant.client_id)
    return graph


def fleet_info(graph: GraphEmulator, pbx: PbxEmulator, domain: str) -> dict[str, Any]:
    """`emulator_info` for one tenant's link: its Graph and its domain on the PBX."""
    info = emulator_info(graph, pbx)
    info.update(pbx_domain=domain, pbx_tenant_admin=pbx.config.tenant_admin(domain))
    return info
