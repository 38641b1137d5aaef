"""Delegated mode (the Vodia manual's flow): MSAL with a token cache kept in the store."""

from __future__ import annotations

import asyncio
import functools
import os
import ssl
from typing import Any

import msal
import requests
from requests.adapters import HTTPAdapter
from requests.utils import DEFAULT_CA_BUNDLE_PATH
from urllib3.util.ssl_ import create_urllib3_context

from worker.errors import SetupRequired, TransientError
from worker.graph.auth.config import AuthConfig, TokenCacheStore, refusal_error


class SharedTrustAdapter(HTTPAdapter):
    """Verifies every connection with one context per CA bundle, shared by all links.

    Left to itself, urllib3 makes a context per connection and loads the bundle into it:
    about 1 MB for requests' default (certifi's ~140 roots), held as long as the
    connection stays in the pool, so ~0.7 MB more per delegated link at rest
    (bench/links.py --delegated). urllib3 sets `verify_mode` (and may clear
    `check_hostname`) on the context it is given, so this one is urllib3's own kind and
    is never handed to aiohttp."""

    def __init__(self, trust: ssl.SSLContext) -> None:
        self._trust = trust  # before HTTPAdapter.__init__, which makes the pool manager
        super().__init__()

    @property
    def trust(self) -> ssl.SSLContext:
        return self._trust

    def init_poolmanager(
        self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any
    ) -> None:
        super().init_poolmanager(
            connections, maxsize, block, ssl_context=self._trust, **pool_kwargs
        )

    def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
        super().cert_verify(conn, url, verify, cert)
        # The shared context holds the trust already: urllib3 would load these files
        # into it again on every connection.
        conn.ca_certs = None
        conn.ca_cert_dir = None


@functools.lru_cache(maxsize=64)
def _requests_trust(bundle: str, _mtime_ns: int) -> ssl.SSLContext:
    context = create_urllib3_context()
    context.load_verify_locations(cafile=bundle)
    return context


def http_session(config: AuthConfig) -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # else REQUESTS_CA_BUNDLE silently replaces `verify`
    session.verify = config.ca_bundle or True
    # requests' own choice of roots: the link's bundle, else certifi's.
    bundle = config.ca_bundle or DEFAULT_CA_BUNDLE_PATH
    try:
        trust = _requests_trust(bundle, os.stat(bundle).st_mtime_ns)
    except (OSError, ssl.SSLError):
        return session  # requests reports the unreadable bundle on the first request
    session.mount("https://", SharedTrustAdapter(trust))
    return session


def new_msal_app(
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
        self._session = http_session(config)
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
        raise refusal_error(result)

    async def close(self) -> None:
        self._session.close()

    async def _ready_app(self) -> msal.ConfidentialClientApplication:
        if self._app is None:
            blob = await self._store.load()
            if blob:
                self._cache.deserialize(blob)
            self._app = await asyncio.to_thread(
                new_msal_app,
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
