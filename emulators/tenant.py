"""Identities the emulators share with the product's configuration: the tenant,
the registered application and the signed-in administrator."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class EmulatedTenant:
    tenant_id: str = "7f3c2a10-5b1e-4c7d-9a2e-0d4b6c8e1f20"
    domain: str = "contoso.example"
    # Every tenant also has its initial domain under onmicrosoft.com; the identity platform
    # answers to it as to the GUID.
    initial_domain: str = "contoso.onmicrosoft.com"
    client_id: str = "3d9e1b7a-2c4f-4e8a-b5d1-6f0a9c3e7b42"
    client_secret: str = "emulator-client-secret-Q7v~d9"
    admin_upn: str = "admin@contoso.example"
    admin_object_id: str = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
    app_display_name: str = "m365sync"
