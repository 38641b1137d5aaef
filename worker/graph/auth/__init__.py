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

from worker.graph.auth.application import ApplicationTokenProvider
from worker.graph.auth.config import (
    DEFAULT_AUTHORITY,
    DEFAULT_GRAPH,
    GRAPH_RESOURCE_HOSTS,
    MICROSOFT_AUTHORITY_HOSTS,
    AuthConfig,
    SignedInAccount,
    SignInFailed,
    SignInStateMismatch,
    TokenCacheStore,
    TokenProvider,
    graph_resource,
)
from worker.graph.auth.delegated import DelegatedTokenProvider
from worker.graph.auth.signin import (
    admin_consent_url,
    finish_auth_code_flow,
    start_auth_code_flow,
)

__all__ = [
    "DEFAULT_AUTHORITY",
    "DEFAULT_GRAPH",
    "GRAPH_RESOURCE_HOSTS",
    "MICROSOFT_AUTHORITY_HOSTS",
    "ApplicationTokenProvider",
    "AuthConfig",
    "DelegatedTokenProvider",
    "SignInFailed",
    "SignInStateMismatch",
    "SignedInAccount",
    "TokenCacheStore",
    "TokenProvider",
    "admin_consent_url",
    "finish_auth_code_flow",
    "graph_resource",
    "start_auth_code_flow",
]
