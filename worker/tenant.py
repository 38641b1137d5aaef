"""A tenant named by domain (`contoso.onmicrosoft.com`) resolved to its GUID.

Change and lifecycle notifications carry the tenant's GUID in `tenantId`
(api-reference/v1.0/resources/changenotification.md), so a link must store the GUID or
the webhook's tenant check refuses every notification. The identity platform's OpenID
configuration for a domain names the tenant by GUID in `issuer` and `token_endpoint`
(`https://login.microsoftonline.com/{guid}/v2.0`), which is what we read; the access
token's `tid` claim is the fallback.
"""

from __future__ import annotations

import base64
import json
import re
import ssl
from urllib.parse import quote, urlsplit

import aiohttp
import structlog

from worker.errors import SetupRequired, TransientError

log = structlog.get_logger("m365sync.tenant")

_GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)
_DOMAIN = re.compile(r"(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}", re.I)
_TIMEOUT = aiohttp.ClientTimeout(total=15)
_MAX_DOCUMENT = 64 * 1024


def is_tenant_guid(value: str) -> bool:
    return _GUID.fullmatch(value) is not None


def is_tenant_domain(value: str) -> bool:
    return _DOMAIN.fullmatch(value) is not None


def guid_in_url(url: object) -> str | None:
    """The tenant GUID in the first path segment of an issuer or endpoint URL."""
    if not isinstance(url, str):
        return None
    segments = [s for s in urlsplit(url).path.split("/") if s]
    if segments and is_tenant_guid(segments[0]):
        return segments[0].lower()
    return None


async def resolve_tenant_id(
    authority_url: str, tenant: str, *, ssl_context: ssl.SSLContext | None = None
) -> str:
    """The tenant's GUID; a GUID is returned as is (lowercase).

    Raises SetupRequired when the identity platform does not know the domain (AADSTS90002)
    and TransientError when it cannot be asked.
    """
    if is_tenant_guid(tenant):
        return tenant.lower()
    if not is_tenant_domain(tenant):
        raise SetupRequired(
            f"the tenant id {tenant!r} is neither a GUID nor a domain",
            error_code="tenant_invalid",
        )
    base = authority_url.rstrip("/")
    url = f"{base}/{quote(tenant, safe='')}/v2.0/.well-known/openid-configuration"
    connector = aiohttp.TCPConnector(ssl=ssl_context if ssl_context is not None else True)
    try:
        async with (
            aiohttp.ClientSession(connector=connector, timeout=_TIMEOUT) as session,
            session.get(url, allow_redirects=False) as response,
        ):
            body = await response.content.read(_MAX_DOCUMENT)
            status = response.status
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise TransientError(f"cannot read the OpenID configuration of {tenant}: {exc}") from exc
    if status == 400:
        raise SetupRequired(
            f"Microsoft does not know the tenant {tenant!r}: check the tenant id or domain",
            error_code="tenant_not_found",
        )
    if status != 200:
        raise TransientError(f"OpenID configuration of {tenant}: HTTP {status}")
    try:
        document = json.loads(body)
    except ValueError as exc:
        raise TransientError(f"OpenID configuration of {tenant}: not JSON") from exc
    if isinstance(document, dict):
        for key in ("issuer", "token_endpoint"):
            guid = guid_in_url(document.get(key))
            if guid is not None:
                log.info("link.tenant_resolved", tenant=tenant, tenant_id=guid)
                return guid
    raise TransientError(f"OpenID configuration of {tenant} names no tenant GUID")


def tid_of(access_token: str) -> str | None:
    """The `tid` claim of a JWT access token, read without verifying it: the token came
    straight from the identity platform over TLS, and only the GUID is wanted."""
    parts = access_token.split(".")
    if len(parts) != 3:
        return None
    try:
        payload = base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4))
        claims = json.loads(payload)
    except ValueError:
        return None
    tid = claims.get("tid") if isinstance(claims, dict) else None
    return tid.lower() if isinstance(tid, str) and is_tenant_guid(tid) else None
