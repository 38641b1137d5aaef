"""Settings of one emulated Vodia PBX."""

from __future__ import annotations

from dataclasses import dataclass

from emulators.tls import TestCA


@dataclass(frozen=True, slots=True)
class PbxEmulatorConfig:
    host: str = "127.0.0.1"
    port: int = 0
    domains: tuple[str, ...] = ("pbx.contoso.example",)
    # Where seeded extensions get their email addresses: the Microsoft 365 tenant's
    # mail domain, so that seeded extensions can match directory users.
    mail_domain: str = "contoso.example"
    admin_user: str = "admin"
    admin_password: str = "pbx-admin-secret-7Hq2"
    # Every domain's tenant admin is "admin@{domain}" with this password.
    tenant_admin_password: str = "pbx-tenant-secret-4Kw9"
    latency_s: float = 0.0
    # The real PBX answers 200 and does nothing on a duplicate addacc; strict mode answers 400.
    strict_duplicates: bool = False
    # How a user_settings write is answered: echo | empty | text | normalised (quirks.py).
    write_reply: str = "echo"
    # An older build: user_settings, addacc and domain_action take PUT, POST is a 405.
    legacy_put: bool = False
    # Where domain_action's disabled flag shows: both | users | settings (quirks.py).
    disabled_shows_in: str = "both"
    control_enabled: bool = True
    seed_extensions: int = 0
    seed: int = 1
    max_extensions: int = 100_000
    session_timeout_s: float = 3600.0
    tls: TestCA | None = None

    def tenant_admin(self, domain: str) -> str:
        return f"admin@{domain}"
