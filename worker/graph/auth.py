"""Access tokens for Microsoft Graph, in the link's two auth modes (DESIGN.md "Auth").

    TokenProvider (Protocol)
        async get_token(*, force_refresh=False) -> str     a Bearer token for Graph
        async close() -> None
    ApplicationTokenProvider(config, *, client_secret=None, certificate_pem=None, retry_total=3)
        client credentials through azure.identity.aio (ClientSecretCredential or
        CertificateCredential), scope "{graph_resource(graph_url)}/.default". A token
        without `roles` means admin consent is missing: SetupRequired, rather than a
        puzzling Graph 403.
    DelegatedTokenProvider(config, client_secret, cache_store, *, timeout_s=30.0)
        the Vodia manual's flow: MSAL ConfidentialClientApplication whose
        SerializableTokenCache lives in a TokenCacheStore (the encrypted store);
        acquire_token_silent_with_error refreshes; the cache is saved whenever it changed.
    TokenCacheStore (Protocol): async load() -> str | None; async save(blob: str) -> None
    AuthConfig(tenant_id, client_id, authority_url=..., graph_url=..., ca_bundle=None)
        AuthConfig.from_link(link) for a store.models.Link; .authority, .app_scope,
        .delegated_scopes, .is_microsoft_authority (instance discovery only then).
    graph_resource(graph_url) -> str: a national cloud's Graph origin, else
        https://graph.microsoft.com (a proxy or the emulator fronts the global Graph).

The admin page's interactive steps (no web code here):
    admin_consent_url(authority, tenant, client_id, redirect_uri, state, *, graph_url=...) -> str
    async start_auth_code_flow(config, client_secret, *, redirect_uri, state=None,
                               login_hint=None, response_mode="form_post") -> dict
        JSON-serialisable; keep it server-side (keyed by flow["state"]) until the callback
    async finish_auth_code_flow(config, client_secret, cache_store, flow, query_params)
        -> SignedInAccount; raises SignInStateMismatch (state differs) or SignInFailed.

Errors: a refused grant, a bad or expired secret, missing consent -> SetupRequired
(error_code "AADSTSnnnn" or the OAuth error); an unreachable or failing (429/5xx)
identity platform -> TransientError. MSAL is synchronous, so every MSAL call runs in
`asyncio.to_thread`; its `requests` session ignores the environment (`trust_env=False`)
so REQUESTS_CA_BUNDLE cannot override the configured CA.
"""

from __future__ import annotations

import asyncio
import base64
import json
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlencode, urlsplit

import msal
import requests
from azure.core.exceptions import AzureError, ClientAuthenticationError
from azure.identity.aio import CertificateCredential, ClientSecretCredential

from worker.errors import SetupRequired, TransientError

if TYPE_CHECKING:
    from store.models import Link

GRAPH_RESOURCE_HOSTS = frozenset(
    {
        "graph.microsoft.com",
        "graph.microsoft.us",
        "dod-graph.microsoft.us",
        "microsoftgraph.chinacloudapi.cn",
    }
)
MICROSOFT_AUTHORITY_HOSTS = frozenset(
    {
        "login.microsoftonline.com",
        "login.microsoft.com",
        "login.windows.net",
        "login.microsoftonline.us",
        "login.chinacloudapi.cn",
        "login.partner.microsoftonline.cn",
        "login-us.microsoftonline.com",
    }
)
DEFAULT_AUTHORITY = "https://login.microsoftonline.com"
DEFAULT_GRAPH = "https://graph.microsoft.com"
_HINTS = {
    7000215: "The client secret is wrong.",
    7000222: "The client secret has expired; create a new one in Entra ID.",
    700016: "The application is not registered in this tenant.",
    90002: "The tenant was not found.",
    50173: "The sign-in was revoked; run OAuth Token again.",
    70008: "The sign-in has expired; run OAuth Token again.",
    700082: "The sign-in has expired; run OAuth Token again.",
    65001: "Admin consent is missing; run Admin Consent.",
    65004: "Admin consent was declined.",
}


class TokenProvider(Protocol):
    async def get_token(self, *, force_refresh: bool = False) -> str: ...

    async def close(self) -> None: ...


class TokenCacheStore(Protocol):
    async def load(self) -> str | None: ...

    async def save(self, blob: str) -> None: ...


@dataclass(frozen=True, slots=True)
class AuthConfig:
    tenant_id: str
    client_id: str
    authority_url: str = DEFAULT_AUTHORITY
    graph_url: str = DEFAULT_GRAPH
    ca_bundle: str | None = None

    @classmethod
    def from_link(cls, link: Link) -> AuthConfig:
        return cls(
            link.tenant_id, link.client_id, link.authority_url, link.graph_url, link.ca_bundle
        )

    @property
    def authority_host(self) -> str:
        return _origin(self.authority_url)

    @property
    def authority(self) -> str:
        return f"{self.authority_host}/{self.tenant_id}"

    @property
    def is_microsoft_authority(self) -> bool:
        return urlsplit(self.authority_host).hostname in MICROSOFT_AUTHORITY_HOSTS

    @property
    def graph_resource(self) -> str:
        return graph_resource(self.graph_url)

    @property
    def app_scope(self) -> str:
        return f"{self.graph_resource}/.default"

    @property
    def delegated_scopes(self) -> list[str]:
        return [f"{self.graph_resource}/User.Read.All"]


@dataclass(frozen=True, slots=True)
class SignedInAccount:
    username: str
    home_account_id: str
    tenant_id: str
    object_id: str


class SignInFailed(SetupRequired):
    """The authorization-code flow ended without tokens (declined, bad code, no consent)."""


class SignInStateMismatch(SignInFailed):
    """The callback's `state` is not the one this flow sent: a stale or forged callback."""


def graph_resource(graph_url: str) -> str:
    """The resource tokens are for. A national cloud's Graph host is its own resource;
    any other host (a proxy, the emulator) still fronts the global Microsoft Graph."""
    origin = _origin(graph_url)
    if urlsplit(origin).hostname in GRAPH_RESOURCE_HOSTS:
        return origin
    return DEFAULT_GRAPH


def _origin(url: str) -> str:
    parts = urlsplit(url if "://" in url else f"https://{url}")
    if parts.scheme != "https" or not parts.netloc:
        raise ValueError(f"expected an https URL, got {url!r}")
    return f"https://{parts.netloc}"


# -- application mode ---------------------------------------------------------------------------


class ApplicationTokenProvider:
    def __init__(
        self,
        config: AuthConfig,
        *,
        client_secret: str | None = None,
        certificate_pem: bytes | None = None,
        retry_total: int = 3,
    ) -> None:
        if (client_secret is None) == (certificate_pem is None):
            raise ValueError("give exactly one of client_secret and certificate_pem")
        self._config = config
        self._client_secret = client_secret
        self._certificate_pem = certificate_pem
        self._retry_total = retry_total
        self._credential: ClientSecretCredential | CertificateCredential | None = None
        self._lock = asyncio.Lock()

    async def get_token(self, *, force_refresh: bool = False) -> str:
        # One caller at a time: a forced refresh replaces the credential, which must not
        # happen under another caller's feet. Cached tokens make the wait negligible.
        async with self._lock:
            if force_refresh or self._credential is None:
                # azure-identity cannot skip its cache without sending a claims challenge,
                # so a forced refresh starts from a fresh credential (an empty cache).
                await self._close_credential()
                self._credential = self._new_credential()
            try:
                token = (await self._credential.get_token(self._config.app_scope)).token
            except ClientAuthenticationError as exc:
                raise _from_azure_refusal(exc) from exc
            except AzureError as exc:
                raise TransientError(f"identity platform unreachable: {exc}") from exc
        if "roles" not in _jwt_claims(token):
            raise SetupRequired(
                "Admin consent is missing: the token carries no application permissions; "
                "run Admin Consent.",
                error_code="AADSTS65001",
            )
        return token

    async def close(self) -> None:
        async with self._lock:
            await self._close_credential()

    def _new_credential(self) -> ClientSecretCredential | CertificateCredential:
        options: dict[str, Any] = {
            "authority": self._config.authority_host,
            "disable_instance_discovery": not self._config.is_microsoft_authority,
            "retry_total": self._retry_total,
        }
        if self._config.ca_bundle:
            options["connection_verify"] = self._config.ca_bundle
        config = self._config
        if self._client_secret is not None:
            return ClientSecretCredential(
                config.tenant_id, config.client_id, self._client_secret, **options
            )
        return CertificateCredential(
            config.tenant_id, config.client_id, certificate_data=self._certificate_pem, **options
        )

    async def _close_credential(self) -> None:
        if self._credential is not None:
            credential, self._credential = self._credential, None
            await credential.close()


def _from_azure_refusal(exc: ClientAuthenticationError) -> Exception:
    status = exc.response.status_code if exc.response is not None else None
    body: dict[str, Any] = {}
    if exc.response is not None:
        try:
            body = json.loads(exc.response.text())
        except ValueError:
            body = {}
    if status is not None and (status == 429 or status >= 500):
        return TransientError(f"identity platform answered {status}")
    return _refusal(body or {"error": "invalid_request", "error_description": str(exc.message)})


def _refusal(body: Mapping[str, Any]) -> Exception:
    """SetupRequired for what an admin must fix; TransientError for a passing outage."""
    error = str(body.get("error", "unknown_error"))
    description = str(body.get("error_description", "")).split("\r\n")[0].split("\n")[0]
    codes = [int(code) for code in body.get("error_codes") or () if isinstance(code, int)]
    if error in ("temporarily_unavailable", "server_error"):
        return TransientError(f"identity platform: {error}: {description}")
    hint = next((_HINTS[code] for code in codes if code in _HINTS), None)
    hint = hint or (_HINTS[65001] if error == "consent_required" else None)
    reason = f"{hint or 'Microsoft Entra ID refused the token request.'} ({error}: {description})"
    error_code = f"AADSTS{codes[0]}" if codes else error
    return SetupRequired(reason, error_code=error_code)


def _jwt_claims(token: str) -> dict[str, Any]:
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return {"roles": []}  # not a JWT we can read: let Graph be the judge
    return claims if isinstance(claims, dict) else {"roles": []}


# -- delegated mode -----------------------------------------------------------------------------


def _http_session(config: AuthConfig) -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # else REQUESTS_CA_BUNDLE silently replaces `verify`
    session.verify = config.ca_bundle or True
    return session


def _new_msal_app(
    config: AuthConfig,
    client_secret: str,
    cache: msal.SerializableTokenCache,
    session: requests.Session,
    timeout_s: float,
) -> msal.ConfidentialClientApplication:
    """Blocking (OIDC discovery happens here): call it in a thread."""
    try:
        return msal.ConfidentialClientApplication(
            config.client_id,
            client_credential=client_secret,
            authority=config.authority,
            token_cache=cache,
            http_client=session,
            timeout=timeout_s,
            instance_discovery=None if config.is_microsoft_authority else False,
        )
    except requests.RequestException as exc:
        raise TransientError(f"identity platform unreachable: {exc}") from exc
    except ValueError as exc:  # MSAL's words for a 4xx discovery answer (unknown tenant)
        raise SetupRequired(
            f"The authority rejected the tenant: {exc}", error_code="discovery"
        ) from exc


class DelegatedTokenProvider:
    def __init__(
        self,
        config: AuthConfig,
        client_secret: str,
        cache_store: TokenCacheStore,
        *,
        timeout_s: float = 30.0,
    ) -> None:
        self._config = config
        self._client_secret = client_secret
        self._store = cache_store
        self._timeout_s = timeout_s
        self._cache = msal.SerializableTokenCache()
        self._session = _http_session(config)
        # One app per provider: MSAL's HTTP throttle cache lives in the app instance.
        self._app: msal.ConfidentialClientApplication | None = None
        self._lock = asyncio.Lock()

    async def get_token(self, *, force_refresh: bool = False) -> str:
        async with self._lock:
            app = await self._ready_app()
            try:
                result = await asyncio.to_thread(self._acquire_silent, app, force_refresh)
            except requests.RequestException as exc:
                raise TransientError(f"identity platform unreachable: {exc}") from exc
            finally:
                await self._save_if_changed()
            if result is not None and "access_token" in result:
                return str(result["access_token"])
            # Start over on the next call: reload the stored cache (an admin may sign in
            # again meanwhile) in a fresh app, free of MSAL's 60 s memory of this refusal.
            self._app = None
            self._cache = msal.SerializableTokenCache()
        if result is None:
            raise SetupRequired(
                "No signed-in administrator (or no refresh token) in the token cache; "
                "run OAuth Token.",
                error_code="no_account",
            )
        raise _refusal(result)

    async def close(self) -> None:
        self._session.close()

    async def _ready_app(self) -> msal.ConfidentialClientApplication:
        if self._app is None:
            blob = await self._store.load()
            if blob:
                self._cache.deserialize(blob)
            self._app = await asyncio.to_thread(
                _new_msal_app,
                self._config,
                self._client_secret,
                self._cache,
                self._session,
                self._timeout_s,
            )
        return self._app

    def _acquire_silent(
        self, app: msal.ConfidentialClientApplication, force_refresh: bool
    ) -> dict[str, Any] | None:
        accounts = app.get_accounts()
        if not accounts:
            return None
        result: dict[str, Any] | None = app.acquire_token_silent_with_error(
            self._config.delegated_scopes, accounts[0], force_refresh=force_refresh
        )
        return result

    async def _save_if_changed(self) -> None:
        if self._cache.has_state_changed:
            await self._store.save(self._cache.serialize())


# -- the admin page's interactive steps ---------------------------------------------------------


def admin_consent_url(
    authority: str,
    tenant: str,
    client_id: str,
    redirect_uri: str,
    state: str,
    *,
    graph_url: str = DEFAULT_GRAPH,
) -> str:
    """The v2.0 admin-consent URL for the app's Graph permissions (`/.default`)."""
    query = urlencode(
        {
            "client_id": client_id,
            "scope": f"{graph_resource(graph_url)}/.default",
            "redirect_uri": redirect_uri,
            "state": state,
        }
    )
    return f"{_origin(authority)}/{tenant}/v2.0/adminconsent?{query}"


async def start_auth_code_flow(
    config: AuthConfig,
    client_secret: str,
    *,
    redirect_uri: str,
    state: str | None = None,
    login_hint: str | None = None,
    response_mode: str = "form_post",
) -> dict[str, Any]:
    """MSAL's auth-code flow with PKCE; send the admin to `flow["auth_uri"]`.

    `form_post` (MSAL's recommendation, RFC 9700) makes the callback a cross-site POST:
    SameSite=Lax cookies are not sent with it, so find the flow by its `state`.
    """
    if response_mode not in ("form_post", "query"):
        raise ValueError(f"response_mode must be form_post or query, not {response_mode!r}")
    session = _http_session(config)
    try:
        cache = msal.SerializableTokenCache()
        app = await asyncio.to_thread(_new_msal_app, config, client_secret, cache, session, 30.0)
        with warnings.catch_warnings():
            # MSAL warns on every non-form_post flow; query mode is a deliberate choice here.
            warnings.filterwarnings("ignore", "response_mode='form_post'", UserWarning)
            flow: dict[str, Any] = app.initiate_auth_code_flow(
                config.delegated_scopes,
                redirect_uri=redirect_uri,
                state=state,
                login_hint=login_hint,
                response_mode=response_mode,
            )
    finally:
        session.close()
    return flow


async def finish_auth_code_flow(
    config: AuthConfig,
    client_secret: str,
    cache_store: TokenCacheStore,
    flow: Mapping[str, Any],
    query_params: Mapping[str, str],
) -> SignedInAccount:
    """Redeem the callback's code; the new cache (only this sign-in) replaces the stored one."""
    session = _http_session(config)
    cache = msal.SerializableTokenCache()
    try:
        app = await asyncio.to_thread(_new_msal_app, config, client_secret, cache, session, 30.0)
        result = await asyncio.to_thread(
            app.acquire_token_by_auth_code_flow, dict(flow), dict(query_params)
        )
    except ValueError as exc:  # MSAL's word for a callback that does not fit the flow
        kind = SignInStateMismatch if "state" in str(exc) else SignInFailed
        raise kind(f"Sign-in callback rejected: {exc}", error_code="callback") from exc
    except RuntimeError as exc:  # the id_token's nonce is not ours: a replayed response
        raise SignInFailed(f"Sign-in response rejected: {exc}", error_code="nonce") from exc
    except requests.RequestException as exc:
        raise TransientError(f"identity platform unreachable: {exc}") from exc
    finally:
        session.close()
    if "access_token" not in result:
        refusal = _refusal(result)
        if isinstance(refusal, SetupRequired):
            raise SignInFailed(refusal.reason, error_code=refusal.error_code)
        raise refusal
    await cache_store.save(cache.serialize())
    claims = result.get("id_token_claims") or {}
    account = app.get_accounts()[0] if app.get_accounts() else {}
    return SignedInAccount(
        username=str(claims.get("preferred_username") or account.get("username", "")),
        home_account_id=str(account.get("home_account_id", "")),
        tenant_id=str(claims.get("tid", config.tenant_id)),
        object_id=str(claims.get("oid", "")),
    )
