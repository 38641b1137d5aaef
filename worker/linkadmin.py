"""Adding, checking and activating links: shared by the CLI and the admin page."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import structlog

from store import Database
from store.links import create_link, get_link, set_link_state, set_secret, update_link_settings
from store.models import Link, LinkState, NewLink
from worker.errors import PbxAuthError, PbxForbiddenError, SetupRequired, SyncError
from worker.linkctx import CLIENT_CERTIFICATE, CLIENT_SECRET, PBX_PASSWORD, open_link_clients
from worker.linksettings import validated_settings
from worker.settings import Settings

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
    read. Active on success; Setup Required with the reason otherwise."""
    link = await get_link(db, link_id)
    try:
        async with await open_link_clients(db, link, settings) as clients:
            await clients.pbx.verify()
            await clients.tokens.get_token()
            await clients.graph.latest_delta_link()
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
