"""The product's token providers and sign-in steps against the emulated identity platform."""

from __future__ import annotations

import asyncio
import json
import re
import socket
from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
import trustme
from aiohttp import web

from emulators import tls
from emulators.clock import Clock
from emulators.faults import FaultInjector, FaultRule
from emulators.identity import IdentityPlatform, add_identity_routes
from emulators.tenant import EmulatedTenant
from tests.plugins.identity import IdentityServer, serve_https
from worker.errors import SetupRequired, TransientError
from worker.graph.auth import (
    ApplicationTokenProvider,
    AuthConfig,
    DelegatedTokenProvider,
    SignedInAccount,
    SignInFailed,
    SignInStateMismatch,
    admin_consent_url,
    finish_auth_code_flow,
    start_auth_code_flow,
)
from worker.graph.auth.delegated import http_session

REDIRECT = "https://127.0.0.1:9/oauth/callback"
LOCAL_GRAPH = "https://127.0.0.1:8443/v1.0"


class MemoryCacheStore:
    """TokenCacheStore in memory; counts saves."""

    def __init__(self) -> None:
        self.blob: str | None = None
        self.saves = 0

    async def load(self) -> str | None:
        return self.blob

    async def save(self, blob: str) -> None:
        self.blob = blob
        self.saves += 1


def _config(server: IdentityServer, graph_url: str) -> AuthConfig:
    return AuthConfig(
        tenant_id=server.tenant.tenant_id,
        client_id=server.tenant.client_id,
        authority_url=server.origin,
        graph_url=graph_url,
        ca_bundle=server.ca_path,
    )


@pytest.fixture(params=["microsoft-graph", "emulator-graph"])
def config(
    request: pytest.FixtureRequest,
    identity_server: IdentityServer,
    monkeypatch: pytest.MonkeyPatch,
) -> AuthConfig:
    """Graph named as Microsoft's, or as the emulator serving it at its own origin."""
    # A bundle that trusts nothing of ours: the providers must not let it win.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    if request.param == "microsoft-graph":
        return _config(identity_server, "https://graph.microsoft.com/v1.0")
    return _config(identity_server, f"{identity_server.origin}/v1.0")


@pytest.fixture
async def app_provider(
    identity_server: IdentityServer, config: AuthConfig
) -> AsyncIterator[ApplicationTokenProvider]:
    provider = ApplicationTokenProvider(config, client_secret=identity_server.tenant.client_secret)
    yield provider
    await provider.close()


async def _sign_in(
    server: IdentityServer, config: AuthConfig, store: MemoryCacheStore, *, secret: str = ""
) -> SignedInAccount:
    """The admin page's OAuth Token step: start, follow /authorize (form_post), finish."""
    secret = secret or server.tenant.client_secret
    flow = await start_auth_code_flow(config, secret, redirect_uri=REDIRECT, state="st-1")
    json.dumps(flow)  # the page keeps it server-side as JSON
    reply = await _authorize_reply(server, flow["auth_uri"])
    return await finish_auth_code_flow(config, secret, store, flow, reply)


async def _authorize_reply(server: IdentityServer, auth_uri: str) -> dict[str, str]:
    connector = aiohttp.TCPConnector(ssl=server.ca.client_context())
    async with (
        aiohttp.ClientSession(connector=connector) as http,
        http.get(auth_uri, allow_redirects=False) as response,
    ):
        page = await response.text()
    return dict(re.findall(r'name="([^"]+)" value="([^"]*)"', page))


@pytest.fixture
async def signed_in_store(identity_server: IdentityServer, config: AuthConfig) -> MemoryCacheStore:
    store = MemoryCacheStore()
    await _sign_in(identity_server, config, store)
    return store


@pytest.fixture
async def delegated(
    identity_server: IdentityServer, config: AuthConfig, signed_in_store: MemoryCacheStore
) -> AsyncIterator[DelegatedTokenProvider]:
    provider = DelegatedTokenProvider(config, identity_server.tenant.client_secret, signed_in_store)
    yield provider
    await provider.close()


# -- application mode -------------------------------------------------------------------------


async def test_app_token_cached_and_force_refresh_fetches_new(
    identity_server: IdentityServer, app_provider: ApplicationTokenProvider
) -> None:
    """A second get_token is served from cache; force_refresh really asks the platform again."""
    first = await app_provider.get_token()
    assert await app_provider.get_token() == first
    issued = identity_server.platform.tokens_issued
    second = await app_provider.get_token(force_refresh=True)
    assert identity_server.platform.tokens_issued == issued + 1
    assert second != first
    assert identity_server.platform.verify_access_token(second).roles == ("User.Read.All",)


async def test_app_token_refresh_across_expiry(
    identity_server: IdentityServer, app_provider: ApplicationTokenProvider
) -> None:
    """After the emulated hour Graph rejects the token; a forced refresh yields a valid one."""
    platform = identity_server.platform
    old = await app_provider.get_token()
    identity_server.clock.advance(3600)
    with pytest.raises(Exception, match="expired"):
        platform.verify_access_token(old)
    new = await app_provider.get_token(force_refresh=True)
    assert platform.verify_access_token(new).expires_at > identity_server.clock.now()


@pytest.mark.parametrize(
    ("setup", "secret", "code", "reason"),
    [
        ("none", "wrong-secret", "AADSTS7000215", "client secret is wrong"),
        ("expire", None, "AADSTS7000222", "client secret has expired"),
        ("no-consent", None, "AADSTS65001", "Admin consent is missing"),
    ],
)
async def test_app_refusals_are_setup_required(
    identity_server: IdentityServer,
    config: AuthConfig,
    setup: str,
    secret: str | None,
    code: str,
    reason: str,
) -> None:
    """Bad secret, expired secret and missing consent each raise SetupRequired with the code."""
    platform = identity_server.platform
    if setup == "expire":
        platform.expire_client_secret(True)
    if setup == "no-consent":
        platform.revoke_admin_consent(identity_server.tenant.client_id)
    provider = ApplicationTokenProvider(
        config, client_secret=secret or identity_server.tenant.client_secret
    )
    try:
        with pytest.raises(SetupRequired) as refused:
            await provider.get_token()
    finally:
        await provider.close()
    assert refused.value.error_code == code
    assert reason in refused.value.reason


async def test_app_certificate_provider(
    identity_server: IdentityServer, config: AuthConfig
) -> None:
    """A PEM certificate (key + cert) gets a token once the certificate is registered."""
    cert = trustme.CA().issue_cert("m365sync.example", key_type=trustme.KeyType.RSA)
    identity_server.platform.register_client_certificate(cert.cert_chain_pems[0].bytes())
    pem = cert.private_key_pem.bytes() + cert.cert_chain_pems[0].bytes()
    provider = ApplicationTokenProvider(config, certificate_pem=pem)
    try:
        token = await provider.get_token()
    finally:
        await provider.close()
    assert identity_server.platform.verify_access_token(token).app_id == config.client_id


async def test_app_unregistered_certificate_is_setup_required(
    identity_server: IdentityServer, config: AuthConfig
) -> None:
    """A certificate the app does not know is refused: SetupRequired with AADSTS700027."""
    cert = trustme.CA().issue_cert("m365sync.example", key_type=trustme.KeyType.RSA)
    pem = cert.private_key_pem.bytes() + cert.cert_chain_pems[0].bytes()
    provider = ApplicationTokenProvider(config, certificate_pem=pem)
    try:
        with pytest.raises(SetupRequired) as refused:
            await provider.get_token()
    finally:
        await provider.close()
    assert refused.value.error_code == "AADSTS700027"


async def test_app_unreachable_platform_is_transient(config: AuthConfig) -> None:
    """A refused connection is a TransientError, not a setup problem."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    dead = AuthConfig(config.tenant_id, config.client_id, f"https://127.0.0.1:{port}")
    provider = ApplicationTokenProvider(dead, client_secret="s", retry_total=0)
    try:
        with pytest.raises(TransientError):
            await provider.get_token()
    finally:
        await provider.close()


async def test_app_503_from_platform_is_transient(test_ca: tls.TestCA) -> None:
    """A 503 from the token endpoint is a TransientError."""
    injector = FaultInjector(lambda status, _: web.json_response({}, status=status))
    injector.add(FaultRule(path_pattern="/token$", kind="status", status=503, count=-1))
    app = web.Application(middlewares=[injector.middleware])
    tenant = EmulatedTenant()
    add_identity_routes(app, IdentityPlatform(tenant, Clock()))
    server = await serve_https(app, test_ca)
    config = AuthConfig(
        tenant.tenant_id, tenant.client_id, server.origin, ca_bundle=str(test_ca.ca_path)
    )
    provider = ApplicationTokenProvider(config, client_secret=tenant.client_secret, retry_total=0)
    try:
        with pytest.raises(TransientError):
            await provider.get_token()
    finally:
        await provider.close()
        await server.runner.cleanup()


# -- delegated mode ---------------------------------------------------------------------------


async def test_msal_sessions_of_all_links_verify_with_one_shared_context(
    identity_server: IdentityServer, config: AuthConfig
) -> None:
    """urllib3 would load the bundle into a context per connection (~1 MB each with
    public roots): every link's MSAL session shares one, holding only the bundle."""
    sessions = [http_session(config) for _ in range(3)]
    trust = sessions[0].get_adapter(identity_server.origin).trust
    assert all(s.get_adapter(identity_server.origin).trust is trust for s in sessions)
    before = trust.session_stats()["connect"]
    url = f"{identity_server.origin}/{config.tenant_id}/v2.0/.well-known/openid-configuration"
    try:
        for session in sessions:
            response = await asyncio.to_thread(session.get, url, timeout=10)
            assert response.status_code == 200
    finally:
        for session in sessions:
            session.close()
    assert trust.session_stats()["connect"] == before + len(sessions)  # its handshakes
    # Only the link's bundle: neither certifi's roots nor REQUESTS_CA_BUNDLE got in.
    assert trust.cert_store_stats()["x509_ca"] == 1


async def test_sign_in_returns_account_and_saves_cache(
    identity_server: IdentityServer, config: AuthConfig
) -> None:
    """finish_auth_code_flow returns the admin's account and stores the MSAL cache once."""
    store = MemoryCacheStore()
    account = await _sign_in(identity_server, config, store)
    tenant = identity_server.tenant
    assert account == SignedInAccount(
        username=tenant.admin_upn,
        home_account_id=f"{tenant.admin_object_id}.{tenant.tenant_id}",
        tenant_id=tenant.tenant_id,
        object_id=tenant.admin_object_id,
    )
    assert store.saves == 1
    assert store.blob is not None
    assert {"AccessToken", "RefreshToken", "Account"} <= json.loads(store.blob).keys()


async def test_delegated_refresh_across_expiry_saves_rotated_cache(
    identity_server: IdentityServer,
    delegated: DelegatedTokenProvider,
    signed_in_store: MemoryCacheStore,
) -> None:
    """An expired token is replaced by force_refresh; the rotated refresh token is saved."""
    platform = identity_server.platform
    old = await delegated.get_token()
    assert platform.verify_access_token(old).delegated
    saves = signed_in_store.saves
    identity_server.clock.advance(3600)
    with pytest.raises(Exception, match="expired"):
        platform.verify_access_token(old)
    new = await delegated.get_token(force_refresh=True)
    assert platform.verify_access_token(new).scopes
    assert signed_in_store.saves == saves + 1


async def test_delegated_revoked_refresh_token_is_setup_required(
    identity_server: IdentityServer, delegated: DelegatedTokenProvider
) -> None:
    """After revocation, a refresh raises SetupRequired with AADSTS50173."""
    await delegated.get_token()
    identity_server.platform.revoke_refresh_tokens()
    with pytest.raises(SetupRequired) as refused:
        await delegated.get_token(force_refresh=True)
    assert refused.value.error_code == "AADSTS50173"
    assert "OAuth Token" in refused.value.reason


async def test_delegated_provider_recovers_after_new_sign_in(
    identity_server: IdentityServer,
    config: AuthConfig,
    delegated: DelegatedTokenProvider,
    signed_in_store: MemoryCacheStore,
) -> None:
    """After SetupRequired, OAuth Token again (same store) makes the same provider work."""
    identity_server.platform.revoke_refresh_tokens()
    with pytest.raises(SetupRequired):
        await delegated.get_token(force_refresh=True)
    await _sign_in(identity_server, config, signed_in_store)
    token = await delegated.get_token(force_refresh=True)
    assert identity_server.platform.verify_access_token(token).delegated


async def test_delegated_consent_revoked_is_setup_required(
    identity_server: IdentityServer, delegated: DelegatedTokenProvider
) -> None:
    """Without admin consent, a refresh raises SetupRequired with AADSTS65001."""
    identity_server.platform.revoke_admin_consent(identity_server.tenant.client_id)
    with pytest.raises(SetupRequired) as refused:
        await delegated.get_token(force_refresh=True)
    assert refused.value.error_code == "AADSTS65001"


async def test_cache_reloaded_by_new_provider(
    identity_server: IdentityServer, config: AuthConfig, signed_in_store: MemoryCacheStore
) -> None:
    """A new provider (say, after a restart) serves the stored token, then refreshes from it."""
    platform = identity_server.platform
    secret = identity_server.tenant.client_secret
    issued = platform.tokens_issued
    first = DelegatedTokenProvider(config, secret, signed_in_store)
    try:
        cached = await first.get_token()
        assert platform.tokens_issued == issued  # straight from the stored cache
        await first.get_token(force_refresh=True)
    finally:
        await first.close()
    second = DelegatedTokenProvider(config, secret, signed_in_store)
    try:
        refreshed = await second.get_token(force_refresh=True)
    finally:
        await second.close()
    assert refreshed != cached
    assert platform.verify_access_token(refreshed).delegated


async def test_delegated_without_sign_in_is_setup_required(
    identity_server: IdentityServer, config: AuthConfig
) -> None:
    """An empty cache raises SetupRequired("no_account")."""
    provider = DelegatedTokenProvider(
        config, identity_server.tenant.client_secret, MemoryCacheStore()
    )
    try:
        with pytest.raises(SetupRequired) as refused:
            await provider.get_token()
    finally:
        await provider.close()
    assert refused.value.error_code == "no_account"


async def test_finish_with_forged_state_is_state_mismatch(
    identity_server: IdentityServer, config: AuthConfig
) -> None:
    """A callback whose state differs from the flow's raises SignInStateMismatch."""
    secret = identity_server.tenant.client_secret
    flow = await start_auth_code_flow(config, secret, redirect_uri=REDIRECT, state="mine")
    reply = await _authorize_reply(identity_server, flow["auth_uri"]) | {"state": "forged"}
    store = MemoryCacheStore()
    with pytest.raises(SignInStateMismatch):
        await finish_auth_code_flow(config, secret, store, flow, reply)
    assert store.saves == 0


async def test_finish_after_declined_sign_in_is_sign_in_failed(
    identity_server: IdentityServer, config: AuthConfig
) -> None:
    """A declined sign-in (error=access_denied) raises SignInFailed and saves nothing."""
    identity_server.platform.set_deny_authorize(True)
    store = MemoryCacheStore()
    with pytest.raises(SignInFailed) as failed:
        await _sign_in(identity_server, config, store)
    assert failed.value.error_code == "access_denied"
    assert store.saves == 0


async def test_finish_with_bad_secret_is_sign_in_failed(
    identity_server: IdentityServer, config: AuthConfig
) -> None:
    """Redeeming the code with a wrong secret raises SignInFailed carrying AADSTS7000215."""
    with pytest.raises(SignInFailed) as failed:
        await _sign_in(identity_server, config, MemoryCacheStore(), secret="wrong")
    assert failed.value.error_code == "AADSTS7000215"


async def test_query_response_mode_sign_in(
    identity_server: IdentityServer, config: AuthConfig
) -> None:
    """response_mode=query works too: the callback's query string finishes the flow."""
    secret = identity_server.tenant.client_secret
    flow = await start_auth_code_flow(
        config, secret, redirect_uri=REDIRECT, state="q", response_mode="query"
    )
    connector = aiohttp.TCPConnector(ssl=identity_server.ca.client_context())
    async with (
        aiohttp.ClientSession(connector=connector) as http,
        http.get(flow["auth_uri"], allow_redirects=False) as response,
    ):
        location = response.headers["Location"]
    reply = {key: values[0] for key, values in parse_qs(urlsplit(location).query).items()}
    account = await finish_auth_code_flow(config, secret, MemoryCacheStore(), flow, reply)
    assert account.username == identity_server.tenant.admin_upn


async def test_admin_consent_url_is_honoured_by_the_platform(
    identity_server: IdentityServer,
) -> None:
    """The v2.0 admin-consent URL leads to admin_consent=True and records consent."""
    platform, tenant = identity_server.platform, identity_server.tenant
    platform.revoke_admin_consent(tenant.client_id)
    url = admin_consent_url(
        identity_server.origin, tenant.tenant_id, tenant.client_id, REDIRECT, "c"
    )
    assert "scope=https%3A%2F%2Fgraph.microsoft.com%2F.default" in url
    connector = aiohttp.TCPConnector(ssl=identity_server.ca.client_context())
    async with (
        aiohttp.ClientSession(connector=connector) as http,
        http.get(url, allow_redirects=False) as response,
    ):
        reply = parse_qs(urlsplit(response.headers["Location"]).query)
    assert reply["admin_consent"] == ["True"]
    assert reply["state"] == ["c"]
    assert platform.has_consent(tenant.client_id)


def test_config_derives_scopes_and_discovery() -> None:
    """Scopes come from the Graph origin; instance discovery only for Microsoft hosts."""
    config = AuthConfig("t", "c", graph_url="https://graph.microsoft.com/v1.0")
    assert config.app_scope == "https://graph.microsoft.com/.default"
    assert config.delegated_scopes == ["https://graph.microsoft.com/User.Read.All"]
    assert config.is_microsoft_authority
    assert config.authority == "https://login.microsoftonline.com/t"
    local = AuthConfig("t", "c", authority_url="https://127.0.0.1:8443/", graph_url=LOCAL_GRAPH)
    assert not local.is_microsoft_authority
    assert local.authority == "https://127.0.0.1:8443/t"
    assert local.app_scope == "https://graph.microsoft.com/.default"
    us_gov = AuthConfig("t", "c", graph_url="https://graph.microsoft.us/v1.0")
    assert us_gov.app_scope == "https://graph.microsoft.us/.default"
    with pytest.raises(ValueError, match="https"):
        _ = AuthConfig("t", "c", authority_url="http://127.0.0.1:8443").authority
