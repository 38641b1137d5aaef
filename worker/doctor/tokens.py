"""Getting a token the way the link does, without writing anything back: a delegated link's
MSAL cache is loaded from the store into memory and any refreshed copy is thrown away."""

from __future__ import annotations

from store import Database
from store.links import get_secret, load_token_cache
from store.models import AuthMode, Link
from worker.errors import SetupRequired
from worker.graph.auth import ApplicationTokenProvider, DelegatedTokenProvider
from worker.linkctx import CLIENT_CERTIFICATE, CLIENT_SECRET, auth_config
from worker.settings import Settings


class MemoryTokenCache:
    def __init__(self, blob: str | None) -> None:
        self.blob = blob

    async def load(self) -> str | None:
        return self.blob

    async def save(self, blob: str) -> None:
        self.blob = blob  # kept for this run only: the doctor changes nothing stored


class DoctorTokens:
    """A TokenProvider for the doctor's Graph reads. In the application mode it hands out the
    token even without `roles`, so that Graph's own answer (403) is what the doctor reports."""

    def __init__(self, provider: ApplicationTokenProvider | DelegatedTokenProvider) -> None:
        self._provider = provider

    async def get_token(self, *, force_refresh: bool = False) -> str:
        if isinstance(self._provider, ApplicationTokenProvider):
            return await self._provider.get_token_unchecked(force_refresh=force_refresh)
        return await self._provider.get_token(force_refresh=force_refresh)

    async def close(self) -> None:
        await self._provider.close()


async def doctor_tokens(db: Database, link: Link, settings: Settings) -> DoctorTokens:
    """Raises SetupRequired when no secret (or certificate) is stored."""
    config = auth_config(link, settings)
    secret = await get_secret(db, link.id, CLIENT_SECRET)
    if link.auth_mode is AuthMode.DELEGATED:
        if secret is None:
            raise SetupRequired("no client secret stored for this link", error_code="no_secret")
        cache = MemoryTokenCache(await load_token_cache(db, link.id))
        return DoctorTokens(DelegatedTokenProvider(config, secret, cache, timeout_s=15.0))
    certificate = await get_secret(db, link.id, CLIENT_CERTIFICATE)
    if certificate is not None:
        provider = ApplicationTokenProvider(
            config, certificate_pem=certificate.encode(), retry_total=1
        )
    elif secret is not None:
        provider = ApplicationTokenProvider(config, client_secret=secret, retry_total=1)
    else:
        raise SetupRequired(
            "no client secret or certificate stored for this link", error_code="no_secret"
        )
    return DoctorTokens(provider)
