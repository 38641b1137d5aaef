"""Microsoft's own libraries (MSAL 1.39, azure-identity 1.27) against the emulated platform.

MSAL is synchronous and the emulator runs on the test's event loop, so every MSAL call
goes through `asyncio.to_thread`.
"""

from __future__ import annotations

import asyncio
import re
import time
import types
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import msal
import pytest
import requests
import trustme
from azure.core.exceptions import ClientAuthenticationError
from azure.identity.aio import CertificateCredential, ClientSecretCredential

from emulators.clock import Clock
from tests.plugins.identity import IdentityServer

REDIRECT = "http://localhost:8400/oauth/callback"
GRAPH_READ = "https://graph.microsoft.com/User.Read.All"
GRAPH_DEFAULT = "https://graph.microsoft.com/.default"


AppFactory = Callable[..., Awaitable[msal.ConfidentialClientApplication]]


@pytest.fixture
async def new_app(identity_server: IdentityServer) -> AsyncIterator[AppFactory]:
    """Builds fresh MSAL apps (discovery runs in a thread) and closes their sessions."""
    sessions: list[requests.Session] = []

    def build(secret: str) -> msal.ConfidentialClientApplication:
        session = identity_server.requests_session()
        sessions.append(session)
        return msal.ConfidentialClientApplication(
            identity_server.tenant.client_id,
            client_credential=secret,
            authority=identity_server.authority,
            instance_discovery=False,
            http_client=session,
        )

    async def factory(secret: str | None = None) -> msal.ConfidentialClientApplication:
        return await asyncio.to_thread(build, secret or identity_server.tenant.client_secret)

    yield factory
    for session in sessions:
        session.close()


async def _sign_in(
    server: IdentityServer, app: msal.ConfidentialClientApplication, response_mode: str
) -> Any:
    """initiate_auth_code_flow, follow /authorize (not the final hop), redeem the code."""
    flow = app.initiate_auth_code_flow(
        [GRAPH_READ], redirect_uri=REDIRECT, state="xyz", response_mode=response_mode
    )
    connector = aiohttp.TCPConnector(ssl=server.ca.client_context())
    async with (
        aiohttp.ClientSession(connector=connector) as http,
        http.get(flow["auth_uri"], allow_redirects=False) as response,
    ):
        page = await response.text()
        location = response.headers.get("Location", "")
    if response_mode == "form_post":
        assert response.status == 200
        assert f'action="{REDIRECT}"' in page
        reply = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', page))
    else:
        assert response.status == 302
        assert location.startswith(REDIRECT)
        reply = {key: values[0] for key, values in parse_qs(urlsplit(location).query).items()}
    return await asyncio.to_thread(app.acquire_token_by_auth_code_flow, flow, reply)


class _ClockTime(types.SimpleNamespace):
    """Stands in for the `time` module inside MSAL so its cache ages with the emulated clock."""

    def __init__(self, clock: Clock) -> None:
        super().__init__()
        self._clock = clock

    def time(self) -> float:
        return self._clock.now()

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


@pytest.fixture
def msal_on_emulated_clock(
    identity_server: IdentityServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """MSAL's cache ages with the emulated clock for the duration of the test."""
    shim = _ClockTime(identity_server.clock)
    monkeypatch.setattr(msal.application, "time", shim)
    monkeypatch.setattr(msal.token_cache, "time", shim)


async def test_msal_client_credentials(
    identity_server: IdentityServer, new_app: AppFactory
) -> None:
    """acquire_token_for_client gets an app token with roles, then serves it from its cache."""
    app = await new_app()
    result = await asyncio.to_thread(app.acquire_token_for_client, [GRAPH_DEFAULT])
    assert result["token_type"] == "Bearer"
    claims = identity_server.platform.verify_access_token(result["access_token"])
    assert claims.roles == ("User.Read.All",)
    again = await asyncio.to_thread(app.acquire_token_for_client, [GRAPH_DEFAULT])
    assert again["token_source"] == "cache"


async def test_msal_bad_secret_returns_invalid_client(
    identity_server: IdentityServer, new_app: AppFactory
) -> None:
    """A wrong secret comes back from MSAL as invalid_client with [7000215]."""
    app = await new_app("wrong")
    result = await asyncio.to_thread(app.acquire_token_for_client, [GRAPH_DEFAULT])
    assert result["error"] == "invalid_client"
    assert result["error_codes"] == [7000215]


@pytest.mark.parametrize(
    "response_mode",
    [
        "form_post",
        pytest.param(
            "query",
            marks=pytest.mark.filterwarnings("ignore:response_mode='form_post' is recommended"),
        ),
    ],
)
async def test_msal_auth_code_flow_with_pkce(
    identity_server: IdentityServer, new_app: AppFactory, response_mode: str
) -> None:
    """initiate_auth_code_flow + acquire_token_by_auth_code_flow sign the admin in."""
    app = await new_app()
    result = await _sign_in(identity_server, app, response_mode)
    assert "access_token" in result, result
    tenant = identity_server.tenant
    assert result["id_token_claims"]["preferred_username"] == tenant.admin_upn
    [account] = app.get_accounts()
    assert account["home_account_id"] == f"{tenant.admin_object_id}.{tenant.tenant_id}"
    assert account["username"] == tenant.admin_upn
    claims = identity_server.platform.verify_access_token(result["access_token"])
    assert claims.delegated
    assert identity_server.platform.has_graph_permission(claims)


async def test_msal_state_mismatch_raises(
    identity_server: IdentityServer, new_app: AppFactory
) -> None:
    """A callback whose state differs from the flow's makes MSAL raise ValueError."""
    app = await new_app()
    flow = app.initiate_auth_code_flow(
        [GRAPH_READ], redirect_uri=REDIRECT, response_mode="form_post"
    )
    with pytest.raises(ValueError, match="state mismatch"):
        await asyncio.to_thread(
            app.acquire_token_by_auth_code_flow, flow, {"code": "x", "state": "forged"}
        )


@pytest.mark.usefixtures("msal_on_emulated_clock")
async def test_msal_acquire_token_silent_refreshes_after_expiry(
    identity_server: IdentityServer, new_app: AppFactory
) -> None:
    """Past the access token's expiry, acquire_token_silent redeems the refresh token."""
    app = await new_app()
    first = await _sign_in(identity_server, app, "form_post")
    [account] = app.get_accounts()
    cached = await asyncio.to_thread(app.acquire_token_silent, [GRAPH_READ], account)
    assert cached["access_token"] == first["access_token"]
    identity_server.clock.advance(3600)
    refreshed = await asyncio.to_thread(app.acquire_token_silent, [GRAPH_READ], account)
    assert refreshed["access_token"] != first["access_token"]
    assert refreshed["token_source"] == "identity_provider"
    identity_server.platform.verify_access_token(refreshed["access_token"])


async def test_msal_revoked_refresh_token_is_invalid_grant(
    identity_server: IdentityServer, new_app: AppFactory
) -> None:
    """After revocation a forced silent refresh fails with invalid_grant [50173]."""
    app = await new_app()
    await _sign_in(identity_server, app, "form_post")
    [account] = app.get_accounts()
    identity_server.platform.revoke_refresh_tokens()
    result = await asyncio.to_thread(
        app.acquire_token_silent_with_error, [GRAPH_READ], account, force_refresh=True
    )
    assert result["error"] == "invalid_grant"
    assert result["error_codes"] == [50173]
    none = await asyncio.to_thread(
        app.acquire_token_silent, [GRAPH_READ], account, force_refresh=True
    )
    assert none is None


async def test_msal_auth_code_without_consent_is_invalid_grant_65001(
    identity_server: IdentityServer, new_app: AppFactory
) -> None:
    """Without admin consent the code redemption fails with invalid_grant [65001]."""
    identity_server.platform.revoke_admin_consent(identity_server.tenant.client_id)
    app = await new_app()
    result = await _sign_in(identity_server, app, "form_post")
    assert result["error"] == "invalid_grant"
    assert result["error_codes"] == [65001]


async def test_azure_identity_client_secret_credential(identity_server: IdentityServer) -> None:
    """azure.identity.aio.ClientSecretCredential gets a Graph app token from the emulator."""
    tenant = identity_server.tenant
    async with ClientSecretCredential(
        tenant.tenant_id,
        tenant.client_id,
        tenant.client_secret,
        authority=identity_server.origin,
        disable_instance_discovery=True,
        connection_verify=identity_server.ca_path,
    ) as credential:
        token = await credential.get_token(GRAPH_DEFAULT)
    claims = identity_server.platform.verify_access_token(token.token)
    assert claims.app_id == tenant.client_id
    assert token.expires_on > time.time() + 3000


async def test_azure_identity_expired_secret_raises(identity_server: IdentityServer) -> None:
    """An expired secret surfaces as ClientAuthenticationError naming AADSTS7000222."""
    identity_server.platform.expire_client_secret(True)
    tenant = identity_server.tenant
    async with ClientSecretCredential(
        tenant.tenant_id,
        tenant.client_id,
        tenant.client_secret,
        authority=identity_server.origin,
        disable_instance_discovery=True,
        connection_verify=identity_server.ca_path,
    ) as credential:
        with pytest.raises(ClientAuthenticationError, match="AADSTS7000222"):
            await credential.get_token(GRAPH_DEFAULT)


async def test_azure_identity_certificate_credential(identity_server: IdentityServer) -> None:
    """CertificateCredential's PS256 client assertion is accepted for a registered certificate."""
    issuer = trustme.CA()
    cert = issuer.issue_cert("m365sync.example", key_type=trustme.KeyType.RSA)
    pem = cert.private_key_pem.bytes() + cert.cert_chain_pems[0].bytes()
    identity_server.platform.register_client_certificate(cert.cert_chain_pems[0].bytes())
    tenant = identity_server.tenant
    async with CertificateCredential(
        tenant.tenant_id,
        tenant.client_id,
        certificate_data=pem,
        authority=identity_server.origin,
        disable_instance_discovery=True,
        connection_verify=identity_server.ca_path,
    ) as credential:
        token = await credential.get_token(GRAPH_DEFAULT)
    assert identity_server.platform.verify_access_token(token.token).app_id == tenant.client_id
