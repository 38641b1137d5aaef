"""Prove freshly retrieved (not yet saved) delegated tokens work: one token, one Graph read."""

from __future__ import annotations

from store.models import Link
from worker.graph.auth import DelegatedTokenProvider
from worker.graph.client import GraphClient
from worker.linkctx import auth_config, client_ssl
from worker.settings import Settings


class MemoryTokenCache:
    """A token cache that lives only in the admin's session until Save."""

    def __init__(self, blob: str | None = None) -> None:
        self.blob = blob

    async def load(self) -> str | None:
        return self.blob

    async def save(self, blob: str) -> None:
        self.blob = blob


async def verify_token_cache(link: Link, settings: Settings, secret: str, blob: str) -> None:
    """Raises SyncError (SetupRequired, GraphError...) when the tokens cannot read users."""
    tokens = DelegatedTokenProvider(auth_config(link, settings), secret, MemoryTokenCache(blob))
    try:
        async with GraphClient(link.graph_url, tokens, ssl=client_ssl(link, settings)) as graph:
            await graph.latest_delta_link()
    finally:
        await tokens.close()
