"""`IdentityPlatform`: the state of the emulated Entra ID tenant and the switches tests flip.

The HTTP handlers (`routes.py`, `authorize.py`, `token_endpoint.py`) read and change it;
the Graph emulator calls `verify_access_token` and `has_graph_permission` on every request.
"""

from __future__ import annotations

import base64
import ipaddress
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from emulators.clock import Clock
from emulators.identity.grants import GrantStore
from emulators.identity.tokens import (
    APP_ROLES,
    READ_USERS_PERMISSIONS,
    AccessClaims,
    decode_access_token,
)
from emulators.tenant import EmulatedTenant

_VERIFIED_CACHE_MAX = 4096


@dataclass(frozen=True, slots=True)
class IdentityOptions:
    """Initial behaviour; the control operations change the switches later."""

    login_form: bool = False  # /authorize and consent show a form instead of signing in at once
    deny_authorize: bool = False  # /authorize answers error=access_denied
    decline_consent: bool = False  # the admin-consent endpoints report a decline
    client_secret_expired: bool = False  # the right secret gets AADSTS7000222
    admin_consent_granted: bool = True  # the tenant's app starts out consented
    # The permissions the tenant's app is configured for, which admin consent grants (as
    # roles in app tokens, and what `.default` means in delegated ones). User.Read.All
    # alone reads users but not group members (GroupMember.Read.All).
    app_roles: tuple[str, ...] = APP_ROLES
    access_token_lifetime_s: int = 3599
    auth_code_lifetime_s: int = 600
    refresh_token_lifetime_s: int = 90 * 86400
    redirect_uris: tuple[str, ...] = ()  # empty: any https URL, or http on a loopback host
    client_certificates: tuple[bytes, ...] = ()  # PEM certificates for client_assertion


class IdentityPlatform:
    def __init__(
        self, tenant: EmulatedTenant, clock: Clock, options: IdentityOptions | None = None
    ) -> None:
        options = options or IdentityOptions()
        self.tenant = tenant
        self.clock = clock
        self.options = options
        self.login_form = options.login_form
        self.deny_authorize = options.deny_authorize
        self.decline_consent = options.decline_consent
        self.client_secret_expired = options.client_secret_expired
        self.consented_clients: set[str] = (
            {tenant.client_id} if options.admin_consent_granted else set()
        )
        self.grants = GrantStore(
            clock,
            code_lifetime_s=options.auth_code_lifetime_s,
            refresh_token_lifetime_s=options.refresh_token_lifetime_s,
        )
        self.app_roles: dict[str, tuple[str, ...]] = {tenant.client_id: options.app_roles}
        self.certificates: dict[str, x509.Certificate] = {}
        for pem in options.client_certificates:
            self.register_client_certificate(pem)
        self.tokens_issued = 0
        self._verified: dict[str, AccessClaims] = {}

    # -- what the handlers ask -------------------------------------------------------------

    def matches_tenant(self, segment: str, *, allow_common: bool = True) -> bool:
        """A GUID, a verified domain (the custom one or the onmicrosoft.com one),
        `organizations`, or `common` where Microsoft allows it."""
        lowered = segment.lower()
        names = (self.tenant.tenant_id, self.tenant.domain, self.tenant.initial_domain)
        if lowered in {name.lower() for name in names} or lowered == "organizations":
            return True
        return allow_common and lowered == "common"

    def issuer(self, origin: str) -> str:
        return f"{origin}/{self.tenant.tenant_id}/v2.0"

    def is_registered_client(self, client_id: str) -> bool:
        return client_id == self.tenant.client_id

    def redirect_uri_allowed(self, redirect_uri: str) -> bool:
        if self.options.redirect_uris:
            return redirect_uri in self.options.redirect_uris
        parts = urlsplit(redirect_uri)
        if parts.fragment or not parts.hostname:
            return False
        if parts.scheme == "https":
            return True
        return parts.scheme == "http" and is_loopback(parts.hostname)

    def has_consent(self, client_id: str) -> bool:
        return client_id in self.consented_clients

    def app_roles_of(self, client_id: str) -> tuple[str, ...]:
        """The permissions an app is configured for (granted once consented)."""
        return self.app_roles.get(client_id, APP_ROLES)

    def granted_roles(self, client_id: str) -> tuple[str, ...]:
        """The roles an app token carries: the configured ones, once admin consented."""
        return self.app_roles_of(client_id) if self.has_consent(client_id) else ()

    # -- what the Graph emulator calls -------------------------------------------------------

    def verify_access_token(self, token: str) -> AccessClaims:
        """The claims of a valid token, or `TokenRejected` (401 InvalidAuthenticationToken)."""
        claims = self._verified.get(token)
        if claims is None:
            claims = decode_access_token(token, self.tenant.tenant_id, self.clock.now())
            if len(self._verified) >= _VERIFIED_CACHE_MAX:
                self._verified.clear()
            self._verified[token] = claims
        elif self.clock.now() >= claims.expires_at:
            # Re-decode so the refusal carries the same message as a first sight would.
            decode_access_token(token, self.tenant.tenant_id, self.clock.now())
        return claims

    def has_graph_permission(self, claims: AccessClaims) -> bool:
        """True when the token may read users (User.Read.All or wider in roles or scp)."""
        return self.has_any_permission(claims, READ_USERS_PERMISSIONS)

    @staticmethod
    def has_any_permission(claims: AccessClaims, permissions: frozenset[str]) -> bool:
        granted = {name.lower() for name in (*claims.roles, *claims.scopes)}
        return any(name.lower() in granted for name in permissions)

    # -- control operations ------------------------------------------------------------------

    def grant_admin_consent(self, client_id: str) -> None:
        self.consented_clients.add(client_id)

    def revoke_admin_consent(self, client_id: str) -> None:
        self.consented_clients.discard(client_id)

    def set_app_roles(self, client_id: str, roles: tuple[str, ...]) -> None:
        """Configure (and, with consent, grant) these permissions; new tokens carry them."""
        self.app_roles[client_id] = tuple(dict.fromkeys(roles))

    def revoke_refresh_tokens(self) -> int:
        return self.grants.revoke_all()

    def expire_client_secret(self, expired: bool = True) -> None:
        self.client_secret_expired = expired

    def set_decline_consent(self, decline: bool = True) -> None:
        self.decline_consent = decline

    def set_deny_authorize(self, deny: bool = True) -> None:
        self.deny_authorize = deny

    def use_login_form(self, enabled: bool = True) -> None:
        self.login_form = enabled

    def register_client_certificate(self, pem: bytes) -> str:
        """Accept client assertions signed by this certificate's key; returns its x5t#S256."""
        cert = x509.load_pem_x509_certificate(pem)
        thumbprint = _b64url(cert.fingerprint(hashes.SHA256()))
        self.certificates[thumbprint] = cert
        return thumbprint

    def state(self) -> dict[str, Any]:
        return {
            "tenant_id": self.tenant.tenant_id,
            "client_id": self.tenant.client_id,
            "consented_clients": sorted(self.consented_clients),
            "app_roles": {client: list(roles) for client, roles in sorted(self.app_roles.items())},
            "login_form": self.login_form,
            "deny_authorize": self.deny_authorize,
            "decline_consent": self.decline_consent,
            "client_secret_expired": self.client_secret_expired,
            "tokens_issued": self.tokens_issued,
            "refresh_tokens": self.grants.refresh_token_count,
            "certificates": sorted(self.certificates),
        }


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")
