"""Resolving a tenant named by domain to its GUID, against the emulated identity platform."""

from __future__ import annotations

import base64
import json

import pytest

from tests.plugins.graph_emulator import MakeGraphEmulator
from worker.errors import SetupRequired
from worker.tenant import guid_in_url, is_tenant_guid, resolve_tenant_id, tid_of


@pytest.mark.parametrize("alias", ["domain", "initial_domain", "tenant_id"])
async def test_domain_resolves_to_the_guid(
    make_graph_emulator: MakeGraphEmulator, alias: str
) -> None:
    """Either domain of the tenant (and the GUID itself) gives the tenant's GUID."""
    emulator = await make_graph_emulator()
    tenant = emulator.config.tenant
    guid = await resolve_tenant_id(
        emulator.url, getattr(tenant, alias), ssl_context=emulator.client_ssl_context()
    )
    assert guid == tenant.tenant_id


async def test_unknown_domain_needs_setup(make_graph_emulator: MakeGraphEmulator) -> None:
    """A domain Microsoft does not know (AADSTS90002) is a setup problem, named as such."""
    emulator = await make_graph_emulator()
    with pytest.raises(SetupRequired, match="does not know the tenant"):
        await resolve_tenant_id(
            emulator.url, "nosuch.example", ssl_context=emulator.client_ssl_context()
        )


@pytest.mark.parametrize("bad", ["", "contoso", "a/b.example", "x" * 300 + ".com"])
async def test_neither_guid_nor_domain_is_refused_without_a_request(bad: str) -> None:
    with pytest.raises(SetupRequired, match="neither a GUID nor a domain"):
        await resolve_tenant_id("https://127.0.0.1:9", bad)


def test_guid_helpers() -> None:
    guid = "7F3C2A10-5B1E-4C7D-9A2E-0D4B6C8E1F20"
    assert is_tenant_guid(guid)
    assert guid_in_url(f"https://login.microsoftonline.com/{guid}/v2.0") == guid.lower()
    assert guid_in_url("https://login.microsoftonline.com/{tenantid}/v2.0") is None
    payload = base64.urlsafe_b64encode(json.dumps({"tid": guid}).encode()).rstrip(b"=")
    assert tid_of(f"e30.{payload.decode()}.sig") == guid.lower()
    assert tid_of("not-a-jwt") is None
