"""Links (tenant <-> PBX pairings), their encrypted secrets and MSAL token caches."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Mapping
from typing import Any

from store.db import Database, Row
from store.errors import IntegrityError, NotFound, StoreError
from store.models import AuthMode, Link, LinkState, NewLink

_COLUMNS = (
    "id, name, tenant_id, client_id, auth_mode, authority_url, graph_url, pbx_url, pbx_domain,"
    " pbx_user, ca_bundle, settings, state, state_reason, created_at, updated_at"
)
EDITABLE_LINK_FIELDS = frozenset(
    {
        "name",
        "tenant_id",
        "client_id",
        "auth_mode",
        "authority_url",
        "graph_url",
        "pbx_url",
        "pbx_domain",
        "pbx_user",
        "ca_bundle",
    }
)


def _link(row: Row) -> Link:
    return Link(
        id=row["id"],
        name=row["name"],
        tenant_id=row["tenant_id"],
        client_id=row["client_id"],
        auth_mode=AuthMode(row["auth_mode"]),
        authority_url=row["authority_url"],
        graph_url=row["graph_url"],
        pbx_url=row["pbx_url"],
        pbx_domain=row["pbx_domain"],
        pbx_user=row["pbx_user"],
        ca_bundle=row["ca_bundle"],
        settings=json.loads(row["settings"]),
        state=LinkState(row["state"]),
        state_reason=row["state_reason"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


async def create_link(db: Database, new: NewLink) -> Link:
    now = time.time()
    try:
        async with db.atomic() as tx:
            link_id = await tx.insert_id(
                "INSERT INTO links (name, tenant_id, client_id, auth_mode, authority_url,"
                " graph_url, pbx_url, pbx_domain, pbx_user, ca_bundle, settings, created_at,"
                " updated_at)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    new.name,
                    new.tenant_id,
                    new.client_id,
                    new.auth_mode.value,
                    new.authority_url,
                    new.graph_url,
                    new.pbx_url,
                    new.pbx_domain,
                    new.pbx_user,
                    new.ca_bundle,
                    json.dumps(dict(new.settings), sort_keys=True),
                    now,
                    now,
                ),
            )
    except (sqlite3.IntegrityError, IntegrityError):
        # The only constraint a new row can break is the unique name.
        raise StoreError(f"a link named {new.name!r} already exists") from None
    return await get_link(db, link_id)


async def get_link(db: Database, link_id: int) -> Link:
    row = await db.fetchone(f"SELECT {_COLUMNS} FROM links WHERE id = ?", (link_id,))
    if row is None:
        raise NotFound(f"no link with id {link_id}")
    return _link(row)


async def find_link(db: Database, name_or_id: str) -> Link:
    """By name, or by numeric id."""
    row = await db.fetchone(f"SELECT {_COLUMNS} FROM links WHERE name = ?", (name_or_id,))
    if row is None and name_or_id.isdigit():
        row = await db.fetchone(f"SELECT {_COLUMNS} FROM links WHERE id = ?", (int(name_or_id),))
    if row is None:
        raise NotFound(f"no link named {name_or_id!r}")
    return _link(row)


async def list_links(db: Database) -> list[Link]:
    return [_link(r) for r in await db.fetchall(f"SELECT {_COLUMNS} FROM links ORDER BY name")]


async def update_link(db: Database, link_id: int, **fields: Any) -> Link:
    unknown = set(fields) - EDITABLE_LINK_FIELDS
    if unknown:
        raise StoreError(f"cannot edit link fields {sorted(unknown)}")
    if not fields:
        return await get_link(db, link_id)
    values = [v.value if isinstance(v, AuthMode) else v for v in fields.values()]
    assignments = ", ".join(f"{name} = ?" for name in fields)
    await db.write(
        f"UPDATE links SET {assignments}, updated_at = ? WHERE id = ?",
        (*values, time.time(), link_id),
    )
    return await get_link(db, link_id)


async def update_link_settings(db: Database, link_id: int, settings: Mapping[str, Any]) -> Link:
    await db.write(
        "UPDATE links SET settings = ?, updated_at = ? WHERE id = ?",
        (json.dumps(dict(settings), sort_keys=True), time.time(), link_id),
    )
    return await get_link(db, link_id)


async def set_link_state(db: Database, link_id: int, state: LinkState, reason: str = "") -> Link:
    await db.write(
        "UPDATE links SET state = ?, state_reason = ?, updated_at = ? WHERE id = ?",
        (state.value, reason, time.time(), link_id),
    )
    return await get_link(db, link_id)


async def delete_link(db: Database, link_id: int) -> None:
    """Forget a link and everything stored for it. The PBX is not touched."""
    await db.write("DELETE FROM links WHERE id = ?", (link_id,))


async def set_secret(db: Database, link_id: int, name: str, value: str) -> None:
    await db.write(
        "INSERT INTO secrets (link_id, name, ciphertext, updated_at) VALUES (?,?,?,?)"
        " ON CONFLICT (link_id, name) DO UPDATE SET ciphertext = excluded.ciphertext,"
        " updated_at = excluded.updated_at",
        (link_id, name, db.box.encrypt_text(value), time.time()),
    )


async def get_secret(db: Database, link_id: int, name: str) -> str | None:
    row = await db.fetchone(
        "SELECT ciphertext FROM secrets WHERE link_id = ? AND name = ?", (link_id, name)
    )
    if row is None:
        return None
    return db.box.decrypt_text(row["ciphertext"], what=f"secret {name!r} of link {link_id}")


async def secret_names(db: Database, link_id: int) -> list[str]:
    rows = await db.fetchall("SELECT name FROM secrets WHERE link_id = ? ORDER BY name", (link_id,))
    return [r["name"] for r in rows]


async def load_token_cache(db: Database, link_id: int) -> str | None:
    row = await db.fetchone("SELECT ciphertext FROM token_caches WHERE link_id = ?", (link_id,))
    if row is None:
        return None
    return db.box.decrypt_text(row["ciphertext"], what=f"the token cache of link {link_id}")


async def save_token_cache(db: Database, link_id: int, blob: str) -> None:
    await db.write(
        "INSERT INTO token_caches (link_id, ciphertext, updated_at) VALUES (?,?,?)"
        " ON CONFLICT (link_id) DO UPDATE SET ciphertext = excluded.ciphertext,"
        " updated_at = excluded.updated_at",
        (link_id, db.box.encrypt_text(blob), time.time()),
    )
