"""Application mode: client credentials through azure.identity.aio."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import aiohttp
from azure.core.exceptions import AzureError, ClientAuthenticationError
from azure.core.pipeline.transport import AioHttpTransport
from azure.identity.aio import CertificateCredential, ClientSecretCredential

from worker.errors import SetupRequired, TransientError
from worker.graph.auth.config import AuthConfig, refusal_error


class ApplicationTokenProvider:
    def __init__(
        self,
        config: AuthConfig,
        *,
        client_secret: str | None = None,
        certificate_pem: bytes | None = None,
        retry_total: int = 3,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        """With `session` (shared by many links' credentials, worker/connpool.py) the token
        requests go out on it, and its connector's trust replaces `config.ca_bundle`."""
        if (client_secret is None) == (certificate_pem is None):
            raise ValueError("give exactly one of client_secret and certificate_pem")
        self._config = config
        self._client_secret = client_secret
        self._certificate_pem = certificate_pem
        self._retry_total = retry_total
        self._session = session
        self._credential: ClientSecretCredential | CertificateCredential | None = None
        self._lock = asyncio.Lock()

    async def get_token(self, *, force_refresh: bool = False) -> str:
        token = await self.get_token_unchecked(force_refresh=force_refresh)
        if "roles" not in _jwt_claims(token):
            raise SetupRequired(
                "Admin consent is missing: the token carries no application permissions; "
                "run Admin Consent.",
                error_code="AADSTS65001",
            )
        return token

    async def get_token_unchecked(self, *, force_refresh: bool = False) -> str:
        """The token as issued, even without `roles` (`m365sync doctor` reads them itself)."""
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
                raise _from_azurerefusal_error(exc) from exc
            except AzureError as exc:
                raise TransientError(f"identity platform unreachable: {exc}") from exc
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
        if self._session is not None and not self._session.closed:
            # Borrowed: closing the credential leaves the shared session open.
            options["transport"] = AioHttpTransport(session=self._session, session_owner=False)
        elif self._config.ca_bundle:
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


def _from_azurerefusal_error(exc: ClientAuthenticationError) -> Exception:
    status = exc.response.status_code if exc.response is not None else None
    body: dict[str, Any] = {}
    if exc.response is not None:
        try:
            body = json.loads(exc.response.text())
        except ValueError:
            body = {}
    if status is not None and (status == 429 or status >= 500):
        return TransientError(f"identity platform answered {status}")
    return refusal_error(
        body or {"error": "invalid_request", "error_description": str(exc.message)}
    )


def _jwt_claims(token: str) -> dict[str, Any]:
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return {"roles": []}  # not a JWT we can read: let Graph be the judge
    return claims if isinstance(claims, dict) else {"roles": []}
