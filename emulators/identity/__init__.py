"""An emulated Microsoft identity platform (Entra ID v2.0 endpoints) for one tenant.

MSAL, azure-identity and the Graph SDK work against it unchanged when the authority is
the emulator's https origin (see graph-api.md §4). Build it and serve it:

    platform = IdentityPlatform(EmulatedTenant(), Clock(), IdentityOptions())
    app = web.Application()
    add_identity_routes(app, platform)            # the public endpoints, below
    add_identity_control_routes(app, platform)    # /_emulator/identity… switches

Public endpoints (`{tenant}` = the GUID, the domain, `organizations`, or `common`):
    GET  /{tenant}/v2.0/.well-known/openid-configuration
    GET  /{tenant}/discovery/v2.0/keys                 JWKS of the RS256 signing key
    GET  /{tenant}/oauth2/v2.0/authorize               code + PKCE S256 (required), state,
                                                       nonce; response_mode query|fragment|form_post
    GET  /{tenant}/adminconsent                        ?tenant&state&admin_consent=True
                                                       or error=permission_denied
    GET  /{tenant}/v2.0/adminconsent                   scope .default required, not `common`;
                                                       decline -> error=consent_required (65004)
    POST /{tenant}/oauth2/v2.0/token                   client_credentials, authorization_code,
                                                       refresh_token; secret, Basic or
                                                       client_assertion (registered certificate)

`IdentityPlatform(tenant, clock, options=None)`:
    verify_access_token(token) -> AccessClaims        raises TokenRejected(401,
                                                       "InvalidAuthenticationToken", message)
    has_graph_permission(claims) -> bool              User.Read.All (or wider) in roles or scp
    grant_admin_consent(client_id) / revoke_admin_consent(client_id)
    revoke_refresh_tokens() -> int                    later refreshes: invalid_grant 50173
    expire_client_secret(expired=True)                right secret: invalid_client 7000222
    set_decline_consent(decline=True)                 consent endpoints report a decline
    set_deny_authorize(deny=True)                     /authorize: error=access_denied
    use_login_form(enabled=True)                      a form instead of an instant sign-in
    register_client_certificate(pem) -> str           x5t#S256 of the certificate
    state() -> dict                                   switches and counters, for dumps
    set_app_roles(client_id, roles)                   the app's consented permissions (default
                                                       User.Read.All; groups need
                                                       GroupMember.Read.All or wider)
    attributes: tenant, clock, options, grants, consented_clients, app_roles, tokens_issued

Control API (`add_identity_control_routes(app, platform, prefix="/_emulator/")`, JSON):
    GET {prefix}identity (state); POST {prefix}identity/consent {"client_id"?, "granted"?},
    /revoke, /client-secret {"expired"?}, /decline-consent {"decline"?},
    /deny-authorize {"deny"?}, /login-form {"enabled"?}, /roles {"client_id"?, "roles"};
    a missing flag means true.
`IDENTITY_PLATFORM` is the app key under which `add_identity_routes` stores the platform.

Graph's resource may be named `https://graph.microsoft.com`, `00000003-0000-0000-c000-
000000000000`, or the emulator's own loopback https origin (clients derive the scope from
the Graph URL they use, and the Graph emulator shares this origin).

Tokens: RS256 JWTs from one per-process key. App tokens carry the app's `roles`
only while the app has admin consent (Entra issues them without roles otherwise);
delegated tokens carry `scp`; iat/nbf/exp follow the emulated clock; expires_in 3599.
Delegated grants need admin consent (else invalid_grant 65001). Codes are one-time
(reuse: 54005) and live 10 minutes; refresh tokens rotate and the old ones stay valid.
"""

from __future__ import annotations

from emulators.identity.aad_errors import AadError
from emulators.identity.keys import SigningKey, signing_key
from emulators.identity.platform import IdentityOptions, IdentityPlatform
from emulators.identity.routes import (
    IDENTITY_PLATFORM,
    add_identity_control_routes,
    add_identity_routes,
)
from emulators.identity.tokens import (
    GRAPH_APP_ID,
    GRAPH_RESOURCE,
    AccessClaims,
    TokenRejected,
)

__all__ = [
    "GRAPH_APP_ID",
    "GRAPH_RESOURCE",
    "IDENTITY_PLATFORM",
    "AadError",
    "AccessClaims",
    "IdentityOptions",
    "IdentityPlatform",
    "SigningKey",
    "TokenRejected",
    "add_identity_control_routes",
    "add_identity_routes",
    "signing_key",
]
