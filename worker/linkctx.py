"""The clients one link needs: a token provider, a Graph client and a Vodia client."""

from __future__ import annotations

import functools
import os
import ssl
from dataclasses import dataclass, replace
from types import TracebackType

from store import Database
from store.links import get_secret, load_token_cache, save_token_cache
from store.models import AuthMode, Link
from worker.connpool import ConnectionPools
from worker.errors import SetupRequired
from worker.graph.auth import (
    ApplicationTokenProvider,
    AuthConfig,
    DelegatedTokenProvider,
    TokenProvider,
)
from worker.graph.client import GraphClient
from worker.settings import Settings
from worker.vodia.client import VodiaClient

# Secret names in the store.
CLIENT_SECRET = "client_secret"  # noqa: S105 - a key name, not a secret
CLIENT_CERTIFICATE = "client_certificate_pem"
PBX_PASSWORD = "pbx_password"  # noqa: S105 - a key name, not a secret


class StoreTokenCache:
    """MSAL's serialized token cache, kept encrypted in the store."""

    def __init__(self, db: Database, link_id: int) -> None:
        self._db = db
        self._link_id = link_id

    async def load(self) -> str | None:
        return await load_token_cache(self._db, self._link_id)

    async def save(self, blob: str) -> None:
        await save_token_cache(self._db, self._link_id, blob)


def auth_config(link: Link, settings: Settings) -> AuthConfig:
    config = AuthConfig.from_link(link)
    if config.ca_bundle is None and settings.ca_bundle is not None:
        config = replace(config, ca_bundle=str(settings.ca_bundle))
    return config


def client_ssl(link: Link, settings: Settings) -> ssl.SSLContext | None:
    """Trust the link's (or the daemon's) extra CA bundle; None means the system store."""
    bundle = link.ca_bundle or (str(settings.ca_bundle) if settings.ca_bundle else None)
    if not bundle:
        return None
    try:
        mtime = os.stat(bundle).st_mtime_ns
    except OSError:
        return ssl.create_default_context(cafile=bundle)  # raises the usual error
    return _bundle_context(bundle, mtime)


@functools.lru_cache(maxsize=64)
def _bundle_context(bundle: str, _mtime_ns: int) -> ssl.SSLContext:
    # One context per bundle (and version of it), shared by every link that trusts it:
    # hundreds of links would otherwise each load the bundle into contexts of their own.
    return ssl.create_default_context(cafile=bundle)


async def token_provider(
    db: Database, link: Link, settings: Settings, pools: ConnectionPools | None = None
) -> TokenProvider:
    config = auth_config(link, settings)
    secret = await get_secret(db, link.id, CLIENT_SECRET)
    if link.auth_mode is AuthMode.DELEGATED:
        if secret is None:
            raise SetupRequired("no client secret stored for this link", error_code="no_secret")
        return DelegatedTokenProvider(config, secret, StoreTokenCache(db, link.id))
    certificate = await get_secret(db, link.id, CLIENT_CERTIFICATE)
    if secret is None and certificate is None:
        raise SetupRequired(
            "no client secret or certificate stored for this link", error_code="no_secret"
        )
    session = pools.identity_session(client_ssl(link, settings)) if pools else None
    if certificate is not None:
        return ApplicationTokenProvider(
            config, certificate_pem=certificate.encode(), session=session
        )
    return ApplicationTokenProvider(config, client_secret=secret, session=session)


@dataclass(slots=True)
class LinkClients:
    link: Link
    tokens: TokenProvider
    graph: GraphClient
    pbx: VodiaClient

    async def __aenter__(self) -> LinkClients:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        try:
            await self.graph.close()
            await self.pbx.close()
        finally:
            await self.tokens.close()


def vodia_client(
    link: Link, password: str, settings: Settings, pools: ConnectionPools | None = None
) -> VodiaClient:
    pbx_ssl = client_ssl(link, settings) if link.pbx_url.startswith("https:") else None
    connector = pools.connector(pbx_ssl) if pools else None
    return VodiaClient(
        link.pbx_url, link.pbx_domain, link.pbx_user, password, ssl=pbx_ssl, connector=connector
    )


async def open_link_clients(
    db: Database, link: Link, settings: Settings, pools: ConnectionPools | None = None
) -> LinkClients:
    """Open the three clients for a link; the caller closes them (async with).

    With `pools` (the engine's, worker/connpool.py) they send on connections shared with
    the other links; without, they hold connections of their own."""
    password = await get_secret(db, link.id, PBX_PASSWORD)
    if password is None:
        raise SetupRequired("no PBX password stored for this link", error_code="no_pbx_password")
    tokens = await token_provider(db, link, settings, pools)
    graph_ssl = client_ssl(link, settings)
    graph = GraphClient(
        link.graph_url,
        tokens,
        ssl=graph_ssl,
        connector=pools.connector(graph_ssl) if pools else None,
    )
    pbx = vodia_client(link, password, settings, pools)
    try:
        await graph.__aenter__()
        await pbx.__aenter__()
    except BaseException:
        await graph.close()
        await pbx.close()
        await tokens.close()
        raise
    return LinkClients(link, tokens, graph, pbx)
