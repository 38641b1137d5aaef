"""The daemon's own administrator account and API tokens, kept in the `meta` table.

Only hashes are stored: the password as an scrypt hash (see admin.passwords), API
tokens as SHA-256 of their random value (they carry 256 bits, so no stretching is needed).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

from store.db import Database

_ADMIN_KEY = "admin_account"
_TOKENS_KEY = "api_tokens"


@dataclass(frozen=True, slots=True)
class AdminAccount:
    username: str
    password_hash: str
    updated_at: float


@dataclass(frozen=True, slots=True)
class ApiToken:
    id: str
    name: str
    token_hash: str
    created_at: float


async def _get_meta(db: Database, key: str) -> str | None:
    row = await db.fetchone("SELECT value FROM meta WHERE key = ?", (key,))
    if row is None:
        return None
    value = row["value"]
    return value.decode() if isinstance(value, bytes) else str(value)


async def _put_meta(db: Database, key: str, value: str) -> None:
    await db.write(
        "INSERT INTO meta (key, value) VALUES (?, ?)"
        " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        # meta.value is a BLOB (BYTEA on PostgreSQL, which refuses text there).
        (key, value.encode()),
    )


async def set_admin_account(db: Database, username: str, password_hash: str) -> None:
    payload = {"username": username, "password_hash": password_hash, "updated_at": time.time()}
    await _put_meta(db, _ADMIN_KEY, json.dumps(payload))


async def get_admin_account(db: Database) -> AdminAccount | None:
    raw = await _get_meta(db, _ADMIN_KEY)
    if raw is None:
        return None
    data = json.loads(raw)
    return AdminAccount(str(data["username"]), str(data["password_hash"]), data["updated_at"])


async def list_api_tokens(db: Database) -> list[ApiToken]:
    raw = await _get_meta(db, _TOKENS_KEY)
    items = json.loads(raw) if raw else []
    return [ApiToken(i["id"], i["name"], i["token_hash"], i["created_at"]) for i in items]


async def _save_tokens(db: Database, tokens: list[ApiToken]) -> None:
    payload = [
        {"id": t.id, "name": t.name, "token_hash": t.token_hash, "created_at": t.created_at}
        for t in tokens
    ]
    await _put_meta(db, _TOKENS_KEY, json.dumps(payload))


async def add_api_token(db: Database, token: ApiToken) -> None:
    await _save_tokens(db, [*await list_api_tokens(db), token])


async def delete_api_token(db: Database, token_id: str) -> bool:
    tokens = await list_api_tokens(db)
    kept = [t for t in tokens if t.id != token_id]
    await _save_tokens(db, kept)
    return len(kept) != len(tokens)
