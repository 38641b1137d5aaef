"""The admin page's interactive steps: Admin Consent and the OAuth Token sign-in."""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

import msal
import requests

from worker.errors import SetupRequired, TransientError
from worker.graph.auth.config import (
    DEFAULT_GRAPH,
    AuthConfig,
    SignedInAccount,
    SignInFailed,
    SignInStateMismatch,
    TokenCacheStore,
    graph_resource,
    origin_of,
    refusal_error,
)
from worker.graph.auth.delegated import http_session, new_msal_app


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
    return f"{origin_of(authority)}/{tenant}/v2.0/adminconsent?{query}"


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
    session = http_session(config)
    try:
        cache = msal.SerializableTokenCache()
        app = await asyncio.to_thread(new_msal_app, config, client_secret, cache, session, 30.0)
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
    session = http_session(config)
    cache = msal.SerializableTokenCache()
    try:
        app = await asyncio.to_thread(new_msal_app, config, client_secret, cache, session, 30.0)
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
        refusal = refusal_error(result)
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
