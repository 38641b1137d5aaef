"""What we last saw on both sides: directory users, PBX extensions, bindings,
released numbers, and the delta link that says where Graph left off."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict

from store.db import Database, Row, Transaction
from store.models import Binding, DirectoryUser, Extension, Removal

# --- delta state -------------------------------------------------------------


async def get_delta_link(db: Database, link_id: int) -> str | None:
    row = await db.fetchone("SELECT delta_link FROM delta_state WHERE link_id = ?", (link_id,))
    return None if row is None else row["delta_link"]


async def set_delta_link(tx: Transaction, link_id: int, delta_link: str | None) -> None:
    """Only ever called in the transaction that completes the round's events."""
    await tx.execute(
        "INSERT INTO delta_state (link_id, delta_link, updated_at) VALUES (?,?,?)"
        " ON CONFLICT (link_id) DO UPDATE SET delta_link = excluded.delta_link,"
        " updated_at = excluded.updated_at",
        (link_id, delta_link, time.time()),
    )


# --- directory users -----------------------------------------------------------


def _user_json(user: DirectoryUser) -> str:
    data = asdict(user)
    del data["id"], data["removed"], data["updated_at"]
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def _user(row: Row) -> DirectoryUser:
    data = json.loads(row["data"])
    data["business_phones"] = tuple(data.get("business_phones") or ())
    data["extension_attributes"] = tuple(
        (str(k), str(v)) for k, v in data.get("extension_attributes") or ()
    )
    removed = row["removed"]
    return DirectoryUser(
        id=row["id"],
        removed=Removal(removed) if removed else None,
        updated_at=row["updated_at"],
        **data,
    )


async def put_directory_users(
    tx: Transaction, link_id: int, users: Iterable[DirectoryUser]
) -> None:
    await tx.executemany(
        "INSERT INTO directory_users (link_id, id, data, removed, updated_at) VALUES (?,?,?,?,?)"
        " ON CONFLICT (link_id, id) DO UPDATE SET data = excluded.data,"
        " removed = excluded.removed, updated_at = excluded.updated_at",
        [
            (link_id, u.id, _user_json(u), u.removed.value if u.removed else None, u.updated_at)
            for u in users
        ],
    )


async def get_directory_users(
    db: Database, link_id: int, ids: Sequence[str] | None = None
) -> dict[str, DirectoryUser]:
    if ids is None:
        rows = await db.fetchall(
            "SELECT id, data, removed, updated_at FROM directory_users WHERE link_id = ?",
            (link_id,),
        )
        return {r["id"]: _user(r) for r in rows}
    found: dict[str, DirectoryUser] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        rows = await db.fetchall(
            "SELECT id, data, removed, updated_at FROM directory_users"
            f" WHERE link_id = ? AND id IN ({','.join('?' * len(chunk))})",
            (link_id, *chunk),
        )
        found.update((r["id"], _user(r)) for r in rows)
    return found


# --- PBX extension cache ---------------------------------------------------------


def _extension(row: Row) -> Extension:
    return Extension(
        number=row["number"],
        first_name=row["first_name"],
        last_name=row["last_name"],
        email=row["email"],
        cell=row["cell"],
        disabled=bool(row["disabled"]),
    )


async def record_pbx_read(
    tx: Transaction, link_id: int, extensions: Iterable[Extension], now: float
) -> list[str]:
    """Cache the whole PBX tenant as just read. A number we saw before that is gone now was
    freed by someone on the PBX (we never delete): it starts its cool-off before reuse."""
    current = list(extensions)
    seen = {e.number for e in current}
    rows = await tx.fetchall("SELECT number FROM extensions WHERE link_id = ?", (link_id,))
    gone = sorted({r["number"] for r in rows} - seen)
    await tx.executemany(
        "INSERT INTO released_numbers (link_id, number, released_at) VALUES (?,?,?)"
        " ON CONFLICT (link_id, number) DO UPDATE SET released_at = excluded.released_at",
        [(link_id, number, now) for number in gone],
    )
    await tx.execute("DELETE FROM extensions WHERE link_id = ?", (link_id,))
    await put_extensions(tx, link_id, current)
    return gone


async def put_extensions(tx: Transaction, link_id: int, extensions: Iterable[Extension]) -> None:
    now = time.time()
    await tx.executemany(
        "INSERT INTO extensions (link_id, number, first_name, last_name, email, cell, disabled,"
        " seen_at) VALUES (?,?,?,?,?,?,?,?) ON CONFLICT (link_id, number) DO UPDATE SET"
        " first_name = excluded.first_name, last_name = excluded.last_name,"
        " email = excluded.email, cell = excluded.cell, disabled = excluded.disabled,"
        " seen_at = excluded.seen_at",
        [
            (link_id, e.number, e.first_name, e.last_name, e.email, e.cell, int(e.disabled), now)
            for e in extensions
        ],
    )


async def get_extensions(db: Database, link_id: int) -> dict[str, Extension]:
    rows = await db.fetchall(
        "SELECT number, first_name, last_name, email, cell, disabled FROM extensions"
        " WHERE link_id = ?",
        (link_id,),
    )
    return {r["number"]: _extension(r) for r in rows}


# --- bindings and released numbers ----------------------------------------------


async def get_bindings(db: Database, link_id: int) -> list[Binding]:
    rows = await db.fetchall(
        "SELECT user_id, number, disabled_by_us, bound_at FROM bindings WHERE link_id = ?"
        " ORDER BY number",
        (link_id,),
    )
    return [
        Binding(
            user_id=r["user_id"],
            number=r["number"],
            disabled_by_us=bool(r["disabled_by_us"]),
            bound_at=r["bound_at"],
        )
        for r in rows
    ]


async def put_binding(tx: Transaction, link_id: int, binding: Binding) -> None:
    """Bind a user to a number. A user has one number and a number one user."""
    await tx.execute(
        "DELETE FROM bindings WHERE link_id = ? AND number = ? AND user_id != ?",
        (link_id, binding.number, binding.user_id),
    )
    await tx.execute(
        "INSERT INTO bindings (link_id, user_id, number, disabled_by_us, bound_at)"
        " VALUES (?,?,?,?,?) ON CONFLICT (link_id, user_id) DO UPDATE SET"
        " number = excluded.number, disabled_by_us = excluded.disabled_by_us",
        (
            link_id,
            binding.user_id,
            binding.number,
            int(binding.disabled_by_us),
            binding.bound_at or time.time(),
        ),
    )


async def set_disabled_by_us(
    tx: Transaction, link_id: int, numbers: Sequence[str], disabled: bool
) -> None:
    await tx.executemany(
        "UPDATE bindings SET disabled_by_us = ? WHERE link_id = ? AND number = ?",
        [(int(disabled), link_id, n) for n in numbers],
    )


async def drop_binding(tx: Transaction, link_id: int, user_id: str, number: str) -> None:
    """Undo a binding that never took effect (its create failed); no cool-off."""
    await tx.execute(
        "DELETE FROM bindings WHERE link_id = ? AND user_id = ? AND number = ?",
        (link_id, user_id, number),
    )


async def get_released_numbers(db: Database, link_id: int) -> Mapping[str, float]:
    rows = await db.fetchall(
        "SELECT number, released_at FROM released_numbers WHERE link_id = ?", (link_id,)
    )
    return {r["number"]: r["released_at"] for r in rows}


async def directory_ids_matching(
    db: Database, link_id: int, text: str, *, limit: int = 1000
) -> list[str]:
    """Ids of the link's directory users whose stored fields contain `text` (case-insensitive
    for ASCII): the Activity page's search by name or email."""
    rows = await db.fetchall(
        "SELECT id FROM directory_users WHERE link_id = ? AND data LIKE ? ESCAPE '\\' LIMIT ?",
        (link_id, f"%{_like_escaped(text)}%", limit),
    )
    return [r["id"] for r in rows]


def _like_escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
