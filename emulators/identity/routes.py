"""Route tables: the identity platform's public endpoints and its control API.

The authority host is the emulator's own https origin, so every absolute URL is built
from `request.url.origin()`.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from emulators.identity import aad_errors
from emulators.identity.authorize import (
    handle_admin_consent_v1,
    handle_admin_consent_v2,
    handle_authorize,
)
from emulators.identity.keys import signing_key
from emulators.identity.platform import IdentityPlatform
from emulators.identity.token_endpoint import handle_token, request_origin

IDENTITY_PLATFORM = web.AppKey("identity_platform", IdentityPlatform)

PlatformHandler = Callable[[web.Request, IdentityPlatform], Awaitable[web.StreamResponse]]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_TENANT = "{tenant:[A-Za-z0-9._-]+}"


def add_identity_routes(app: web.Application, platform: IdentityPlatform) -> None:
    """Register discovery, keys, authorize, admin consent and token under `/{tenant}/…`."""
    app[IDENTITY_PLATFORM] = platform

    def bind(handler: PlatformHandler) -> Handler:
        async def bound(request: web.Request) -> web.StreamResponse:
            return await handler(request, platform)

        return bound

    router = app.router
    router.add_get(f"/{_TENANT}/v2.0/.well-known/openid-configuration", bind(_openid_configuration))
    router.add_get(f"/{_TENANT}/discovery/v2.0/keys", bind(_keys))
    router.add_route("GET", f"/{_TENANT}/oauth2/v2.0/authorize", bind(handle_authorize))
    router.add_route("POST", f"/{_TENANT}/oauth2/v2.0/authorize", bind(handle_authorize))
    router.add_route("GET", f"/{_TENANT}/adminconsent", bind(handle_admin_consent_v1))
    router.add_route("POST", f"/{_TENANT}/adminconsent", bind(handle_admin_consent_v1))
    router.add_route("GET", f"/{_TENANT}/v2.0/adminconsent", bind(handle_admin_consent_v2))
    router.add_route("POST", f"/{_TENANT}/v2.0/adminconsent", bind(handle_admin_consent_v2))
    router.add_post(f"/{_TENANT}/oauth2/v2.0/token", bind(handle_token))


async def _openid_configuration(request: web.Request, platform: IdentityPlatform) -> web.Response:
    segment = request.match_info["tenant"]
    if not platform.matches_tenant(segment):
        return aad_errors.unknown_tenant(segment).response(now_s=platform.clock.now())
    origin = request_origin(request)
    multi_tenant = segment.lower() in ("common", "organizations")
    # Entra names the tenant by GUID in a tenant's document, and keeps the alias (with an
    # `{tenantid}` placeholder in the issuer) in the multi-tenant ones.
    path_tenant = segment.lower() if multi_tenant else platform.tenant.tenant_id
    issuer_tenant = "{tenantid}" if multi_tenant else platform.tenant.tenant_id
    base = f"{origin}/{path_tenant}"
    return web.json_response(
        {
            "token_endpoint": f"{base}/oauth2/v2.0/token",
            "token_endpoint_auth_methods_supported": [
                "client_secret_post",
                "private_key_jwt",
                "client_secret_basic",
            ],
            "jwks_uri": f"{base}/discovery/v2.0/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": f"{origin}/{issuer_tenant}/v2.0",
            "request_uri_parameter_supported": False,
            "userinfo_endpoint": "https://graph.microsoft.com/oidc/userinfo",
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
            "http_logout_supported": True,
            "frontchannel_logout_supported": True,
            "end_session_endpoint": f"{base}/oauth2/v2.0/logout",
            "claims_supported": [
                *("sub", "iss", "aud", "exp", "iat", "auth_time", "acr", "nonce"),
                *("preferred_username", "name", "tid", "ver", "at_hash", "c_hash", "email"),
            ],
            "tenant_region_scope": "EU",
            "cloud_instance_name": "microsoftonline.com",
            "cloud_graph_host_name": "graph.windows.net",
            "msgraph_host": "graph.microsoft.com",
        }
    )


async def _keys(request: web.Request, platform: IdentityPlatform) -> web.Response:
    segment = request.match_info["tenant"]
    if not platform.matches_tenant(segment):
        return aad_errors.unknown_tenant(segment).response(now_s=platform.clock.now())
    issuer = platform.issuer(request_origin(request))
    return web.json_response({"keys": [signing_key().jwk(issuer)]})


# -- control API ------------------------------------------------------------------------------


def add_identity_control_routes(
    app: web.Application, platform: IdentityPlatform, prefix: str = "/_emulator/"
) -> None:
    """JSON endpoints under `{prefix}identity…` that flip the platform's switches.

    GET  identity                  state as JSON
    POST identity/consent          {"client_id"?: str, "granted"?: bool}
    POST identity/revoke           revokes every refresh token -> {"revoked": n}
    POST identity/client-secret    {"expired"?: bool}
    POST identity/decline-consent  {"decline"?: bool}
    POST identity/deny-authorize   {"deny"?: bool}
    POST identity/login-form       {"enabled"?: bool}
    POST identity/roles            {"client_id"?: str, "roles": [str, ...]}: the app's
                                   configured (consented) permissions
    A missing flag means true.
    """
    base = f"{prefix}identity"

    async def state(request: web.Request) -> web.Response:
        return web.json_response(platform.state())

    async def consent(request: web.Request) -> web.Response:
        body = await _json_body(request)
        client_id = body.get("client_id", platform.tenant.client_id)
        if not isinstance(client_id, str) or not client_id:
            raise _bad_request("client_id must be a non-empty string")
        if _flag(body, "granted"):
            platform.grant_admin_consent(client_id)
        else:
            platform.revoke_admin_consent(client_id)
        return web.json_response(platform.state())

    async def roles(request: web.Request) -> web.Response:
        body = await _json_body(request)
        client_id = body.get("client_id", platform.tenant.client_id)
        names = body.get("roles")
        if not isinstance(client_id, str) or not client_id:
            raise _bad_request("client_id must be a non-empty string")
        if not isinstance(names, list) or not all(
            isinstance(n, str) and 0 < len(n) <= 100 for n in names
        ):
            raise _bad_request("roles must be a list of permission names")
        platform.set_app_roles(client_id, tuple(names))
        return web.json_response(platform.state())

    async def revoke(request: web.Request) -> web.Response:
        return web.json_response({"revoked": platform.revoke_refresh_tokens()})

    def switch(key: str, setter: Callable[[bool], None]) -> Handler:
        async def handler(request: web.Request) -> web.StreamResponse:
            setter(_flag(await _json_body(request), key))
            return web.json_response(platform.state())

        return handler

    app.router.add_get(base, state)
    app.router.add_post(f"{base}/consent", consent)
    app.router.add_post(f"{base}/revoke", revoke)
    app.router.add_post(f"{base}/roles", roles)
    app.router.add_post(f"{base}/client-secret", switch("expired", platform.expire_client_secret))
    app.router.add_post(f"{base}/decline-consent", switch("decline", platform.set_decline_consent))
    app.router.add_post(f"{base}/deny-authorize", switch("deny", platform.set_deny_authorize))
    app.router.add_post(f"{base}/login-form", switch("enabled", platform.use_login_form))


async def _json_body(request: web.Request) -> dict[str, Any]:
    raw = await request.text()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise _bad_request("body must be JSON") from exc
    if not isinstance(body, dict):
        raise _bad_request("body must be a JSON object")
    return body


def _flag(body: dict[str, Any], key: str) -> bool:
    value = body.get(key, True)
    if not isinstance(value, bool):
        raise _bad_request(f"{key} must be true or false")
    return value


def _bad_request(message: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=json.dumps({"error": message}), content_type="application/json")
