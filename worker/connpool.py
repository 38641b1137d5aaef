"""Connection pools shared by every link's clients in one engine.

Each open TLS connection costs about 300 KB: asyncio keeps a 256 KiB read buffer per
SSL transport (`asyncio.sslproto.SSLProtocol.max_size`) besides OpenSSL's own. With a
pool per link, 500 links kept 1,000-1,500 connections (Graph, sign-in, PBX) and most of
the daemon's memory at rest. Every link of a service provider talks to the same
graph.microsoft.com and login.microsoftonline.com, and often to one PBX for many
domains, so one pool per trust setting lets them share a handful of connections.

Sharing a connection between tenants shares nothing else: every request carries its
own Authorization header (Graph: the link's bearer token; Vodia: Basic auth, no cookies,
worker/vodia/transport.py), and the sessions stay per link, each with its own headers,
timeouts and cookie jar.
"""

from __future__ import annotations

import ssl as ssl_module

import aiohttp

# No overall cap: a shared cap would let one link's hanging PBX hold the connections the
# others need. What runs at once is bounded already by the round cap
# (M365SYNC_MAX_CONCURRENT_ROUNDS) and each PBX client's in-flight cap.
UNLIMITED = 0


class ConnectionPools:
    """One aiohttp connector per trust setting (the system store, or a CA bundle's shared
    context from `worker.linkctx.client_ssl`), made on first use inside the event loop."""

    def __init__(self) -> None:
        self._connectors: dict[ssl_module.SSLContext | None, aiohttp.TCPConnector] = {}
        self._identity: dict[ssl_module.SSLContext | None, aiohttp.ClientSession] = {}

    def connector(self, trust: ssl_module.SSLContext | None) -> aiohttp.TCPConnector:
        """For a session made with `connector_owner=False`: the pool outlives it."""
        connector = self._connectors.get(trust)
        if connector is None or connector.closed:
            connector = aiohttp.TCPConnector(ssl=True if trust is None else trust, limit=UNLIMITED)
            self._connectors[trust] = connector
        return connector

    def identity_session(self, trust: ssl_module.SSLContext | None) -> aiohttp.ClientSession:
        """The session azure-identity's credentials send their token requests on.

        Made as azure-core's own AioHttpTransport makes it (no cookies, proxies from the
        environment, no automatic decompression: azure-core decodes the body itself)."""
        session = self._identity.get(trust)
        if session is None or session.closed:
            session = aiohttp.ClientSession(
                connector=self.connector(trust),
                connector_owner=False,
                cookie_jar=aiohttp.DummyCookieJar(),
                trust_env=True,
                auto_decompress=False,
            )
            self._identity[trust] = session
        return session

    async def close(self) -> None:
        identity, self._identity = self._identity, {}
        for session in identity.values():
            await session.close()
        connectors, self._connectors = self._connectors, {}
        for connector in connectors.values():
            await connector.close()
