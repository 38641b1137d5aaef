"""The emulated identity platform over raw HTTPS: discovery, authorize, consent, token errors."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import aiohttp
import jwt
import pytest

from emulators.identity import IdentityOptions, TokenRejected
from tests.plugins.identity import IdentityServer

REDIRECT = "https://127.0.0.1:9/oauth/callback"
GRAPH_SCOPE = "https://graph.microsoft.com/User.Read.All"


@pytest.fixture
async def http(identity_server: IdentityServer) -> AsyncIterator[aiohttp.ClientSession]:
    connector = aiohttp.TCPConnector(ssl=identity_server.ca.client_context())
    async with aiohttp.ClientSession(connector=connector) as session:
        yield session


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _query(location: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(location).query).items()}


async def _authorize(
    http: aiohttp.ClientSession, server: IdentityServer, **overrides: str
) -> tuple[int, dict[str, str], str]:
    """GET /authorize without following the redirect; (status, redirect query, body)."""
    params = {
        "client_id": server.tenant.client_id,
        "response_type": "code",
        "redirect_uri": REDIRECT,
        "scope": f"openid profile offline_access {GRAPH_SCOPE}",
        "state": "s-123",
        "nonce": "n-456",
        "code_challenge": _pkce()[1],
        "code_challenge_method": "S256",
    } | overrides
    url = f"{server.authority}/oauth2/v2.0/authorize?{urlencode(params)}"
    async with http.get(url, allow_redirects=False) as response:
        body = await response.text()
        return response.status, _query(response.headers.get("Location", "")), body


async def _code(http: aiohttp.ClientSession, server: IdentityServer, challenge: str) -> str:
    status, reply, _ = await _authorize(http, server, code_challenge=challenge)
    assert status == 302
    return reply["code"]


async def _token(
    http: aiohttp.ClientSession, server: IdentityServer, **form: str
) -> tuple[int, dict[str, Any]]:
    body = {"client_id": server.tenant.client_id, "client_secret": server.tenant.client_secret}
    async with http.post(f"{server.authority}/oauth2/v2.0/token", data=body | form) as response:
        return response.status, await response.json()


async def _redeem(
    http: aiohttp.ClientSession, server: IdentityServer, code: str, verifier: str
) -> tuple[int, dict[str, Any]]:
    return await _token(
        http,
        server,
        grant_type="authorization_code",
        code=code,
        redirect_uri=REDIRECT,
        code_verifier=verifier,
        client_info="1",
        scope=f"{GRAPH_SCOPE} openid profile offline_access",
    )


def _assert_aad_error(body: dict[str, Any], error: str, code: int) -> None:
    assert body["error"] == error
    assert body["error_codes"] == [code]
    assert body["error_description"].startswith(f"AADSTS{code}: ")
    assert "\r\nTrace ID: " in body["error_description"]
    assert "\r\nCorrelation ID: " in body["error_description"]
    assert {"timestamp", "trace_id", "correlation_id", "error_uri"} <= body.keys()


@pytest.mark.parametrize(
    "segment", ["tenant_id", "domain", "initial_domain", "organizations", "common"]
)
async def test_openid_configuration_for_each_tenant_alias(
    http: aiohttp.ClientSession, identity_server: IdentityServer, segment: str
) -> None:
    """Discovery answers for the GUID, the domains, organizations and common; a tenant's
    own document (by GUID or domain) names the tenant by GUID in issuer and endpoints,
    as login.microsoftonline.com does."""
    tenant = identity_server.tenant
    name = getattr(tenant, segment, segment)
    url = f"{identity_server.origin}/{name}/v2.0/.well-known/openid-configuration"
    async with http.get(url) as response:
        assert response.status == 200
        config = await response.json()
    assert config["token_endpoint"].startswith(identity_server.origin)
    assert config["token_endpoint"].endswith("/oauth2/v2.0/token")
    assert config["authorization_endpoint"].endswith("/oauth2/v2.0/authorize")
    if segment in ("tenant_id", "domain", "initial_domain"):
        assert config["issuer"] == f"{identity_server.authority}/v2.0"
        assert config["token_endpoint"] == f"{identity_server.authority}/oauth2/v2.0/token"
    else:
        assert config["issuer"] == f"{identity_server.origin}/{{tenantid}}/v2.0"


async def test_unknown_tenant_discovery_is_400_invalid_tenant(
    http: aiohttp.ClientSession, identity_server: IdentityServer
) -> None:
    """An unknown tenant gets 400 with AADSTS90002."""
    url = f"{identity_server.origin}/nosuch.example/v2.0/.well-known/openid-configuration"
    async with http.get(url) as response:
        assert response.status == 400
        _assert_aad_error(await response.json(), "invalid_tenant", 90002)


async def test_jwks_verifies_issued_app_token(
    http: aiohttp.ClientSession, identity_server: IdentityServer
) -> None:
    """The JWKS key verifies an app token whose claims look like Entra's."""
    async with http.get(f"{identity_server.authority}/discovery/v2.0/keys") as response:
        jwks = await response.json()
    status, body = await _token(
        http,
        identity_server,
        grant_type="client_credentials",
        scope="https://graph.microsoft.com/.default",
    )
    assert status == 200
    assert body["expires_in"] == 3599
    assert body["token_type"] == "Bearer"
    assert "refresh_token" not in body
    key = jwt.PyJWK(jwks["keys"][0])
    claims = jwt.decode(
        body["access_token"], key, algorithms=["RS256"], audience="https://graph.microsoft.com"
    )
    tenant = identity_server.tenant
    assert claims["tid"] == tenant.tenant_id
    assert claims["appid"] == tenant.client_id
    assert claims["roles"] == ["User.Read.All"]
    assert claims["iss"] == f"https://sts.windows.net/{tenant.tenant_id}/"
    assert claims["exp"] - claims["iat"] == 3599


async def test_app_token_without_consent_has_no_roles(
    http: aiohttp.ClientSession, identity_server: IdentityServer
) -> None:
    """Without admin consent the token is issued but lacks roles, so Graph must refuse it."""
    identity_server.platform.revoke_admin_consent(identity_server.tenant.client_id)
    status, body = await _token(
        http,
        identity_server,
        grant_type="client_credentials",
        scope="https://graph.microsoft.com/.default",
    )
    assert status == 200
    claims = identity_server.platform.verify_access_token(body["access_token"])
    assert claims.roles == ()
    assert not identity_server.platform.has_graph_permission(claims)


async def test_bad_secret_is_401_invalid_client_7000215(
    http: aiohttp.ClientSession, identity_server: IdentityServer
) -> None:
    """A wrong client secret is answered 401 invalid_client AADSTS7000215."""
    status, body = await _token(
        http,
        identity_server,
        grant_type="client_credentials",
        scope="https://graph.microsoft.com/.default",
        client_secret="wrong",
    )
    assert status == 401
    _assert_aad_error(body, "invalid_client", 7000215)


async def test_expired_secret_is_401_invalid_client_7000222(
    http: aiohttp.ClientSession, identity_server: IdentityServer
) -> None:
    """The right secret, once expired, is answered AADSTS7000222."""
    identity_server.platform.expire_client_secret(True)
    status, body = await _token(
        http,
        identity_server,
        grant_type="client_credentials",
        scope="https://graph.microsoft.com/.default",
    )
    assert status == 401
    _assert_aad_error(body, "invalid_client", 7000222)


@pytest.mark.parametrize(
    ("form", "status", "error", "code"),
    [
        ({"client_id": "00000000-0000-0000-0000-000000000000"}, 400, "unauthorized_client", 700016),
        ({"scope": "https://graph.microsoft.com/User.Read.All"}, 400, "invalid_scope", 1002012),
        ({"scope": "https://vault.azure.net/.default"}, 400, "invalid_resource", 500011),
        ({"grant_type": "password"}, 400, "unsupported_grant_type", 70003),
    ],
)
async def test_client_credentials_refusals(
    http: aiohttp.ClientSession,
    identity_server: IdentityServer,
    form: dict[str, str],
    status: int,
    error: str,
    code: int,
) -> None:
    """Unknown app, non-.default scope, foreign resource and bad grant type are refused."""
    request = {"grant_type": "client_credentials", "scope": "https://graph.microsoft.com/.default"}
    got_status, body = await _token(http, identity_server, **(request | form))
    assert got_status == status
    _assert_aad_error(body, error, code)


async def test_basic_auth_replaces_client_secret(
    http: aiohttp.ClientSession, identity_server: IdentityServer
) -> None:
    """HTTP Basic client authentication is accepted like a body secret."""
    tenant = identity_server.tenant
    headers = {"Authorization": aiohttp.encode_basic_auth(tenant.client_id, tenant.client_secret)}
    form = {"grant_type": "client_credentials", "scope": "https://graph.microsoft.com/.default"}
    url = f"{identity_server.authority}/oauth2/v2.0/token"
    async with http.post(url, data=form, headers=headers) as response:
        assert response.status == 200
        assert "access_token" in await response.json()


async def test_authorize_redirects_code_and_state(
    http: aiohttp.ClientSession, identity_server: IdentityServer
) -> None:
    """Authorize signs the admin in at once and redirects with code and the echoed state."""
    status, reply, _ = await _authorize(http, identity_server)
    assert status == 302
    assert reply["state"] == "s-123"
    assert reply["code"]


async def test_code_redeems_once_with_pkce_nonce_and_client_info(
    http: aiohttp.ClientSession, identity_server: IdentityServer
) -> None:
    """A code redeems once (id_token echoes the nonce, client_info set); reuse is AADSTS54005."""
    verifier, challenge = _pkce()
    code = await _code(http, identity_server, challenge)
    status, body = await _redeem(http, identity_server, code, verifier)
    assert status == 200
    tenant = identity_server.tenant
    id_claims = jwt.decode(body["id_token"], options={"verify_signature": False})
    assert id_claims["nonce"] == "n-456"
    assert id_claims["aud"] == tenant.client_id
    assert id_claims["preferred_username"] == tenant.admin_upn
    info = json.loads(base64.urlsafe_b64decode(body["client_info"] + "=="))
    assert info == {"uid": tenant.admin_object_id, "utid": tenant.tenant_id}
    claims = identity_server.platform.verify_access_token(body["access_token"])
    assert claims.delegated
    assert "User.Read.All" in claims.scopes
    assert claims.roles == ()
    assert body["refresh_token"]
    status, again = await _redeem(http, identity_server, code, verifier)
    assert status == 400
    _assert_aad_error(again, "invalid_grant", 54005)


async def test_wrong_verifier_and_redirect_are_invalid_grant(
    http: aiohttp.ClientSession, identity_server: IdentityServer
) -> None:
    """A wrong code_verifier or a different redirect_uri makes the code worthless."""
    verifier, challenge = _pkce()
    code = await _code(http, identity_server, challenge)
    status, body = await _redeem(http, identity_server, code, "x" * 43)
    assert (status, body["error"]) == (400, "invalid_grant")
    code = await _code(http, identity_server, challenge)
    status, body = await _token(
        http,
        identity_server,
        grant_type="authorization_code",
        code=code,
        redirect_uri="https://127.0.0.1:9/elsewhere",
        code_verifier=verifier,
    )
    assert (status, body["error"]) == (400, "invalid_grant")


async def test_code_expires_after_ten_minutes(
    http: aiohttp.ClientSession, identity_server: IdentityServer
) -> None:
    """A code older than ten emulated minutes is refused with AADSTS70008."""
    verifier, challenge = _pkce()
    code = await _code(http, identity_server, challenge)
    identity_server.clock.advance(601)
    status, body = await _redeem(http, identity_server, code, verifier)
    assert status == 400
    _assert_aad_error(body, "invalid_grant", 70008)


async def test_refresh_rotates_and_old_token_stays_valid_until_revoked(
    http: aiohttp.ClientSession, identity_server: IdentityServer
) -> None:
    """Each refresh returns a new refresh token, the old still works; revocation is 50173."""
    verifier, challenge = _pkce()
    _, first = await _redeem(
        http, identity_server, await _code(http, identity_server, challenge), verifier
    )
    form = {"grant_type": "refresh_token", "scope": f"{GRAPH_SCOPE} offline_access"}
    _, second = await _token(http, identity_server, refresh_token=first["refresh_token"], **form)
    assert second["refresh_token"] != first["refresh_token"]
    status, _ = await _token(http, identity_server, refresh_token=first["refresh_token"], **form)
    assert status == 200
    assert identity_server.platform.revoke_refresh_tokens() >= 2
    status, body = await _token(
        http, identity_server, refresh_token=second["refresh_token"], **form
    )
    assert status == 400
    _assert_aad_error(body, "invalid_grant", 50173)


async def test_delegated_grant_without_consent_is_65001(
    http: aiohttp.ClientSession, identity_server: IdentityServer
) -> None:
    """Redeeming a code for an app without admin consent gives invalid_grant AADSTS65001."""
    identity_server.platform.revoke_admin_consent(identity_server.tenant.client_id)
    verifier, challenge = _pkce()
    code = await _code(http, identity_server, challenge)
    status, body = await _redeem(http, identity_server, code, verifier)
    assert status == 400
    _assert_aad_error(body, "invalid_grant", 65001)


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"code_challenge": ""}, "invalid_request"),
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"scope": "https://outlook.office.com/Mail.Read"}, "invalid_scope"),
    ],
)
async def test_authorize_errors_go_to_redirect_uri(
    http: aiohttp.ClientSession,
    identity_server: IdentityServer,
    overrides: dict[str, str],
    error: str,
) -> None:
    """Missing PKCE, plain PKCE, a non-code response type and a foreign scope are redirected."""
    status, reply, _ = await _authorize(http, identity_server, **overrides)
    assert status == 302
    assert reply["error"] == error
    assert reply["state"] == "s-123"


async def test_authorize_access_denied_when_configured(
    http: aiohttp.ClientSession, identity_server: IdentityServer
) -> None:
    """With deny_authorize set, the redirect carries error=access_denied."""
    identity_server.platform.set_deny_authorize(True)
    status, reply, _ = await _authorize(http, identity_server)
    assert status == 302
    assert reply["error"] == "access_denied"
    assert reply["error_description"].startswith("AADSTS65004")


@pytest.mark.parametrize(
    "overrides",
    [
        {"client_id": "00000000-0000-0000-0000-000000000000"},
        {"redirect_uri": "http://evil.example/"},
    ],
)
async def test_authorize_untrusted_redirect_gets_error_page(
    http: aiohttp.ClientSession, identity_server: IdentityServer, overrides: dict[str, str]
) -> None:
    """An unknown app or a non-loopback http redirect_uri gets a 400 page, never a redirect."""
    status, reply, body = await _authorize(http, identity_server, **overrides)
    assert status == 400
    assert reply == {}
    assert "AADSTS" in body


async def test_authorize_response_modes_fragment_and_form_post(
    http: aiohttp.ClientSession, identity_server: IdentityServer
) -> None:
    """response_mode=fragment puts the code after '#'; form_post renders an auto-posting form."""
    params = {
        "client_id": identity_server.tenant.client_id,
        "response_type": "code",
        "redirect_uri": REDIRECT,
        "scope": GRAPH_SCOPE,
        "state": "st",
        "code_challenge": _pkce()[1],
        "code_challenge_method": "S256",
    }
    url = f"{identity_server.authority}/oauth2/v2.0/authorize"
    async with http.get(
        url, params=params | {"response_mode": "fragment"}, allow_redirects=False
    ) as r:
        assert r.status == 302
        assert "#code=" in r.headers["Location"]
    async with http.get(url, params=params | {"response_mode": "form_post"}) as r:
        page = await r.text()
    assert r.status == 200
    assert f'action="{REDIRECT}"' in page
    assert 'name="code"' in page


async def test_login_form_sign_in_and_cancel(
    http: aiohttp.ClientSession, identity_server: IdentityServer
) -> None:
    """With the login form on, GET shows a form; accept issues a code, cancel is access_denied."""
    identity_server.platform.use_login_form(True)
    status, reply, page = await _authorize(http, identity_server)
    assert (status, reply) == (200, {})
    assert identity_server.tenant.admin_upn in page
    assert 'value="accept"' in page
    url = f"{identity_server.authority}/oauth2/v2.0/authorize"
    params = {
        "client_id": identity_server.tenant.client_id,
        "response_type": "code",
        "redirect_uri": REDIRECT,
        "scope": GRAPH_SCOPE,
        "state": "form",
        "code_challenge": _pkce()[1],
        "code_challenge_method": "S256",
    }
    async with http.post(url, data=params | {"action": "accept"}, allow_redirects=False) as r:
        assert r.status == 302
        assert _query(r.headers["Location"])["code"]
    async with http.post(url, data=params | {"action": "cancel"}, allow_redirects=False) as r:
        assert _query(r.headers["Location"])["error"] == "access_denied"


async def test_v1_admin_consent_success_and_decline(
    http: aiohttp.ClientSession, identity_server: IdentityServer
) -> None:
    """/adminconsent records consent, redirects admin_consent=True; decline: permission_denied."""
    platform, tenant = identity_server.platform, identity_server.tenant
    platform.revoke_admin_consent(tenant.client_id)
    params = {"client_id": tenant.client_id, "redirect_uri": REDIRECT, "state": "c1"}
    url = f"{identity_server.origin}/common/adminconsent"
    async with http.get(url, params=params, allow_redirects=False) as r:
        reply = _query(r.headers["Location"])
    assert reply == {"tenant": tenant.tenant_id, "state": "c1", "admin_consent": "True"}
    assert platform.has_consent(tenant.client_id)
    platform.set_decline_consent(True)
    async with http.get(url, params=params, allow_redirects=False) as r:
        reply = _query(r.headers["Location"])
    assert reply["error"] == "permission_denied"
    assert reply["state"] == "c1"


async def test_v2_admin_consent_success_decline_and_rules(
    http: aiohttp.ClientSession, identity_server: IdentityServer
) -> None:
    """/v2.0/adminconsent echoes scope and tenant; decline is consent_required 65004; no common."""
    platform, tenant = identity_server.platform, identity_server.tenant
    platform.revoke_admin_consent(tenant.client_id)
    scope = "https://graph.microsoft.com/.default"
    params = {
        "client_id": tenant.client_id,
        "redirect_uri": REDIRECT,
        "state": "c2",
        "scope": scope,
    }
    url = f"{identity_server.origin}/organizations/v2.0/adminconsent"
    async with http.get(url, params=params, allow_redirects=False) as r:
        reply = _query(r.headers["Location"])
    assert reply == {
        "admin_consent": "True",
        "tenant": tenant.tenant_id,
        "scope": scope,
        "state": "c2",
    }
    assert platform.has_consent(tenant.client_id)
    platform.set_decline_consent(True)
    async with http.get(url, params=params, allow_redirects=False) as r:
        reply = _query(r.headers["Location"])
    assert reply["error"] == "consent_required"
    assert reply["error_description"].startswith("AADSTS65004")
    no_scope = {key: value for key, value in params.items() if key != "scope"}
    async with http.get(url, params=no_scope, allow_redirects=False) as r:
        assert _query(r.headers["Location"])["error"] == "invalid_request"
    common = f"{identity_server.origin}/common/v2.0/adminconsent"
    async with http.get(common, params=params, allow_redirects=False) as r:
        assert r.status == 400


async def test_verify_access_token_expiry_and_tampering(
    http: aiohttp.ClientSession, identity_server: IdentityServer
) -> None:
    """Graph's check: an expired, tampered or malformed token is 401 InvalidAuthenticationToken."""
    platform = identity_server.platform
    _, body = await _token(
        http,
        identity_server,
        grant_type="client_credentials",
        scope="https://graph.microsoft.com/.default",
    )
    token = body["access_token"]
    claims = platform.verify_access_token(token)
    assert (claims.app_id, claims.delegated) == (identity_server.tenant.client_id, False)
    assert platform.has_graph_permission(claims)
    header, payload, signature = token.split(".")
    for bad in ("not-a-jwt", f"{header}.{payload}.{signature[::-1]}"):
        with pytest.raises(TokenRejected) as rejected:
            platform.verify_access_token(bad)
        assert (rejected.value.status, rejected.value.code) == (401, "InvalidAuthenticationToken")
    identity_server.clock.advance(3600)
    with pytest.raises(TokenRejected, match="expired"):
        platform.verify_access_token(token)


async def test_control_routes_flip_switches(
    http: aiohttp.ClientSession, identity_server: IdentityServer
) -> None:
    """The /_emulator/identity endpoints revoke, expire secrets and toggle consent and forms."""
    base = f"{identity_server.origin}/_emulator/identity"
    async with http.post(f"{base}/client-secret", json={"expired": True}) as r:
        assert (await r.json())["client_secret_expired"] is True
    async with http.post(f"{base}/consent", json={"granted": False}) as r:
        assert (await r.json())["consented_clients"] == []
    async with http.post(f"{base}/login-form") as r:
        assert (await r.json())["login_form"] is True
    async with http.post(f"{base}/revoke") as r:
        assert (await r.json()) == {"revoked": 0}
    async with http.post(f"{base}/deny-authorize", json={"deny": "yes"}) as r:
        assert r.status == 400
    async with http.get(base) as r:
        assert (await r.json())["tenant_id"] == identity_server.tenant.tenant_id


@pytest.mark.parametrize("identity_options", [IdentityOptions(redirect_uris=(REDIRECT,))])
async def test_registered_redirect_uris_are_enforced(
    http: aiohttp.ClientSession, identity_server: IdentityServer
) -> None:
    """With registered redirect URIs, any other https URI is refused with a page."""
    status, _, _ = await _authorize(http, identity_server)
    assert status == 302
    status, _, body = await _authorize(
        http, identity_server, redirect_uri="https://other.example/cb"
    )
    assert status == 400
    assert "AADSTS50011" in body


async def test_emulator_origin_names_graph(
    http: aiohttp.ClientSession, identity_server: IdentityServer
) -> None:
    """The emulator's own origin is accepted as Graph's resource and echoed in `scope`."""
    origin = identity_server.origin
    status, body = await _token(
        http, identity_server, grant_type="client_credentials", scope=f"{origin}/.default"
    )
    assert status == 200
    assert identity_server.platform.verify_access_token(body["access_token"]).roles
    verifier, challenge = _pkce()
    status, reply, _ = await _authorize(
        http, identity_server, code_challenge=challenge, scope=f"openid {origin}/User.Read.All"
    )
    status, body = await _redeem(http, identity_server, reply["code"], verifier)
    assert status == 200
    assert body["scope"].split() == [f"{origin}/User.Read.All", "openid"]


async def test_consent_form_accept_and_cancel(
    http: aiohttp.ClientSession, identity_server: IdentityServer
) -> None:
    """With the form on, consent waits for Accept; Cancel reports the decline."""
    platform, tenant = identity_server.platform, identity_server.tenant
    platform.revoke_admin_consent(tenant.client_id)
    platform.use_login_form(True)
    params = {
        "client_id": tenant.client_id,
        "redirect_uri": REDIRECT,
        "state": "f",
        "scope": "https://graph.microsoft.com/.default",
    }
    url = f"{identity_server.authority}/v2.0/adminconsent"
    async with http.get(url, params=params, allow_redirects=False) as r:
        assert r.status == 200
        assert "Permissions requested" in await r.text()
    assert not platform.has_consent(tenant.client_id)
    async with http.post(url, data=params | {"action": "cancel"}, allow_redirects=False) as r:
        assert _query(r.headers["Location"])["error"] == "consent_required"
    async with http.post(url, data=params | {"action": "accept"}, allow_redirects=False) as r:
        assert _query(r.headers["Location"])["admin_consent"] == "True"
    assert platform.has_consent(tenant.client_id)
