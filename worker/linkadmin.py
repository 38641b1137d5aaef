"""Adding, checking and activating links: shared by the CLI and the admin page."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import structlog

from store import Database
from store.links import (
    create_link,
    get_link,
    set_link_state,
    set_secret,
    update_link,
    update_link_settings,
)
from store.models import Link, LinkState, NewLink
from worker.errors import (
    PbxAuthError,
    PbxForbiddenError,
    SetupRequired,
    SyncError,
    TransientError,
)
from worker.linkctx import (
    CLIENT_CERTIFICATE,
    CLIENT_SECRET,
    PBX_PASSWORD,
    client_ssl,
    open_link_clients,
)
from worker.linksettings import link_policy_of, validated_settings
from worker.permissions import check_group_access
from worker.planner import Policy, PolicyError
from worker.settings import Settings
from worker.tenant import is_tenant_guid, resolve_tenant_id, tid_of

log = structlog.get_logger("m365sync.links")


async def add_link(
    db: Database,
    new: NewLink,
    *,
    pbx_password: str,
    client_secret: str | None = None,
    certificate_pem: str | None = None,
) -> Link:
    """Store a new link with its secrets. It starts in Setup Required until checked."""
    validated_settings(new.settings)
    link = await create_link(db, new)
    await set_secret(db, link.id, PBX_PASSWORD, pbx_password)
    if client_secret:
        await set_secret(db, link.id, CLIENT_SECRET, client_secret)
    if certificate_pem:
        await set_secret(db, link.id, CLIENT_CERTIFICATE, certificate_pem)
    return link


async def save_settings(db: Database, link_id: int, settings: Mapping[str, Any]) -> Link:
    return await update_link_settings(db, link_id, validated_settings(settings))


async def check_link(db: Database, link_id: int, settings: Settings) -> Link:
    """Prove both sides work: a Graph token and one Graph read, and an authenticated PBX
    read. Active on success; Setup Required with the reason otherwise. A tenant given by
    domain is replaced by its GUID, which is what notifications carry."""
    link = await get_link(db, link_id)
    try:
        link = await _tenant_by_guid(db, link, settings)
        async with await open_link_clients(db, link, settings) as clients:
            await clients.pbx.verify()
            token = await clients.tokens.get_token()
            await clients.graph.latest_delta_link()
            await check_group_access(clients.graph, link, _policy_or_none(link))
        link = await _tenant_from_token(db, link, token)
    except SetupRequired as exc:
        return await set_link_state(db, link.id, LinkState.SETUP_REQUIRED, exc.reason)
    except PbxAuthError:
        return await set_link_state(
            db, link.id, LinkState.SETUP_REQUIRED, "the PBX refused the administrator credentials"
        )
    except PbxForbiddenError:
        return await set_link_state(
            db,
            link.id,
            LinkState.SETUP_REQUIRED,
            "the PBX account may not use this domain's API (check API access and scope)",
        )
    except SyncError as exc:
        return await set_link_state(db, link.id, LinkState.SETUP_REQUIRED, f"check failed: {exc}")
    log.info("link.active", link=link.name)
    return await set_link_state(db, link.id, LinkState.ACTIVE, "")


def _policy_or_none(link: Link) -> Policy | None:
    """The link's policy; None when its settings are invalid (rounds report that)."""
    try:
        return link_policy_of(link.settings)
    except PolicyError:
        return None


async def _tenant_by_guid(db: Database, link: Link, settings: Settings) -> Link:
    """Store the tenant's GUID in place of a domain, from the authority's OpenID
    configuration; when that cannot be read now, the token's `tid` will do."""
    if is_tenant_guid(link.tenant_id):
        return link
    try:
        guid = await resolve_tenant_id(
            link.authority_url, link.tenant_id, ssl_context=client_ssl(link, settings)
        )
    except TransientError as exc:
        log.warning("link.tenant_unresolved", tenant=link.tenant_id, error=str(exc))
        return link
    log.info("link.tenant_resolved", link=link.name, domain=link.tenant_id, tenant_id=guid)
    return await update_link(db, link.id, tenant_id=guid)


async def _tenant_from_token(db: Database, link: Link, token: str) -> Link:
    tid = tid_of(token)
    if is_tenant_guid(link.tenant_id) or tid is None:
        return link
    log.info("link.tenant_resolved", link=link.name, domain=link.tenant_id, tenant_id=tid)
    return await update_link(db, link.id, tenant_id=tid)
