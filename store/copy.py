"""Copy a stopped deployment's SQLite store into an empty database (PostgreSQL, usually).

Every table is copied row for row in one target transaction, in foreign-key order, and
checked before that transaction commits: the row count and an order-independent checksum
of every table must match the source's, else nothing is written. Secrets are copied as
the ciphertext they are, so the target needs the same key (M365SYNC_SECRET_KEY) and
nothing is ever decrypted on the way. The target must be freshly migrated and empty; the
source must not be in use (no live lease), since a daemon writing during the copy would
make it a copy of no single moment.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from store.db import HOUSEKEEPING_META_KEYS, Database, Row, Transaction
from store.errors import StoreError

PAGE = 2_000
# Our own bookkeeping: the target's migrations are applied by opening it (and compared);
# meta is replaced as a whole (its key check comes from the source, encrypted alike).
_NOT_COPIED = frozenset({"migrations"})
_REPLACED = frozenset({"meta"})
_MOD = 2**256


class CopyError(StoreError):
    """The copy was refused or failed its check; the target was left as it was."""


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    blob: bool


@dataclass(frozen=True, slots=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    # A single integer key: PostgreSQL's identity must continue after the copied ids.
    identity: bool

    @property
    def column_list(self) -> str:
        return ", ".join(f'"{c.name}"' for c in self.columns)


@dataclass(frozen=True, slots=True)
class TableCopy:
    name: str
    rows: int
    checksum: str


@dataclass(frozen=True, slots=True)
class CopyReport:
    tables: tuple[TableCopy, ...]

    @property
    def rows(self) -> int:
        return sum(t.rows for t in self.tables)


async def copy_store(
    source: Database,
    target: Database,
    *,
    now: float | None = None,
    progress: Callable[[str, int], None] = lambda table, rows: None,
) -> CopyReport:
    """Copy every row of `source` (SQLite) into `target` and verify it, or raise CopyError."""
    if source.dialect != "sqlite":
        raise CopyError("the source of a copy is a SQLite store")
    await _refuse_live_source(source, time.time() if now is None else now)
    await _refuse_other_migrations(source, target)
    tables = await _tables_in_order(source)
    copies: list[TableCopy] = []
    table = tables[0]
    try:
        async with target.atomic() as tx:
            await _refuse_nonempty_target(tx, tables)
            for table in tables:
                copies.append(await _copy_and_check(source, tx, table, progress))
    except CopyError:
        raise
    except Exception as exc:  # the driver's refusal of one row: name the table, keep nothing
        raise CopyError(
            f"copying table {table.name} failed ({type(exc).__name__}: {exc}); the target"
            " was left as it was"
        ) from exc
    return CopyReport(tuple(copies))


async def _copy_and_check(
    source: Database, tx: Transaction, table: Table, progress: Callable[[str, int], None]
) -> TableCopy:
    if table.name in _REPLACED:
        await tx.execute(f'DELETE FROM "{table.name}"')
    rows, expected = await _copy_table(source, tx, table, progress)
    if tx.dialect == "postgresql" and table.identity:
        await tx.fetchone(
            "SELECT setval(pg_get_serial_sequence(:name, :column),"
            f' (SELECT COALESCE(MAX("{table.key[0]}"), 0) + 1 FROM "{table.name}"), false)',
            {"name": table.name, "column": table.key[0]},
        )
    copied_rows, copied = await _checksum(_pages_in(tx, table), table)
    if (copied_rows, copied) != (rows, expected):
        raise CopyError(
            f"table {table.name}: {rows} rows read, {copied_rows} found in the target or"
            " their checksums differ; nothing was copied"
        )
    return TableCopy(table.name, rows, f"{expected:064x}")


async def _refuse_live_source(source: Database, now: float) -> None:
    rows = await source.fetchall(
        "SELECT l.name, k.host, k.pid, k.until FROM link_leases k JOIN links l ON l.id = k.link_id"
        " WHERE k.until > ? ORDER BY l.name",
        (now,),
    )
    if rows:
        held = ", ".join(
            f"{r['name']} (pid {r['pid']} on {r['host']}, until"
            f" {time.strftime('%H:%M:%S', time.localtime(r['until']))})"
            for r in rows
        )
        raise CopyError(
            f"a daemon still holds {held}: stop every m365sync process on this database first"
            " (a killed one's lease runs out at the time shown)"
        )


async def _refuse_other_migrations(source: Database, target: Database) -> None:
    query = "SELECT name FROM migrations ORDER BY name"
    mine = [r["name"] for r in await source.fetchall(query)]
    theirs = [r["name"] for r in await target.fetchall(query)]
    if mine != theirs:
        raise CopyError(
            f"the source has migrations {mine[-1:]} and the target {theirs[-1:]}:"
            " run the same m365sync version on both"
        )


async def _refuse_nonempty_target(tx: Transaction, tables: Sequence[Table]) -> None:
    for table in tables:
        sql = f'SELECT 1 FROM "{table.name}"'
        params: list[str] = []
        if table.name in _REPLACED:
            keys = sorted(HOUSEKEEPING_META_KEYS)
            sql += f" WHERE key NOT IN ({', '.join('?' for _ in keys)})"
            params = keys
        if await tx.fetchone(f"{sql} LIMIT 1", params) is not None:
            raise CopyError(
                f"the target already has rows in {table.name}: copy into an empty database"
            )


async def _tables_in_order(source: Database) -> list[Table]:
    """The source's tables, each after the tables its foreign keys point to."""
    names = [
        r["name"]
        for r in await source.fetchall(
            "SELECT name FROM sqlite_master WHERE type = 'table'"
            " AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name"
        )
        if r["name"] not in _NOT_COPIED
    ]
    tables: dict[str, Table] = {}
    parents: dict[str, set[str]] = {}
    for name in names:
        info = await source.fetchall("SELECT * FROM pragma_table_info(?) ORDER BY cid", (name,))
        columns = tuple(Column(r["name"], r["type"].upper() == "BLOB") for r in info)
        key = tuple(r["name"] for r in sorted((r for r in info if r["pk"]), key=lambda r: r["pk"]))
        if not key:
            raise CopyError(f"table {name} has no primary key; m365sync cannot copy it")
        identity = len(key) == 1 and any(
            r["name"] == key[0] and r["type"].upper() == "INTEGER" for r in info
        )
        tables[name] = Table(name, columns, key, identity)
        fks = await source.fetchall("SELECT * FROM pragma_foreign_key_list(?)", (name,))
        parents[name] = {r["table"] for r in fks if r["table"] != name}
    ordered: list[Table] = []
    placed: set[str] = set()
    while len(ordered) < len(tables):
        ready = [n for n in names if n not in placed and parents[n] <= placed]
        if not ready:
            raise CopyError("the tables' foreign keys form a cycle")
        for name in ready:
            ordered.append(tables[name])
            placed.add(name)
    return ordered


async def _copy_table(
    source: Database, tx: Transaction, table: Table, progress: Callable[[str, int], None]
) -> tuple[int, int]:
    marks = ", ".join("?" for _ in table.columns)
    insert = f'INSERT INTO "{table.name}" ({table.column_list}) VALUES ({marks})'
    rows = 0
    total = 0
    async for page in _pages(source.fetchall, table):
        values = [_as_stored(table, row) for row in page]
        await tx.executemany(insert, values)
        rows += len(page)
        total = (total + sum(_row_hash(table, row) for row in page)) % _MOD
        progress(table.name, rows)
    return rows, total


def _pages_in(tx: Transaction, table: Table) -> AsyncIterator[list[Row]]:
    return _pages(tx.fetchall, table)


async def _pages(fetch: Callable[[str, Any], Any], table: Table) -> AsyncIterator[list[Row]]:
    """Every row, PAGE at a time, by key (keyset paging: each page is one index seek)."""
    order = ", ".join(f'"{k}"' for k in table.key)
    after: tuple[Any, ...] | None = None
    while True:
        where = ""
        params: list[Any] = []
        if after is not None:
            marks = ", ".join("?" for _ in table.key)
            where = f" WHERE ({order}) > ({marks})"
            params = list(after)
        page: list[Row] = await fetch(
            f'SELECT {table.column_list} FROM "{table.name}"{where} ORDER BY {order} LIMIT {PAGE}',
            params,
        )
        if not page:
            return
        yield page
        if len(page) < PAGE:
            return
        last = page[-1]
        after = tuple(last[k] for k in table.key)


async def _checksum(pages: AsyncIterator[list[Row]], table: Table) -> tuple[int, int]:
    rows = 0
    total = 0
    async for page in pages:
        rows += len(page)
        total = (total + sum(_row_hash(table, row) for row in page)) % _MOD
    return rows, total


def _as_stored(table: Table, row: Row) -> tuple[Any, ...]:
    # SQLite keeps what it was given in a BLOB column (a few meta values are text);
    # PostgreSQL's bytea takes bytes only.
    return tuple(
        row[c.name].encode() if c.blob and isinstance(row[c.name], str) else row[c.name]
        for c in table.columns
    )


def _row_hash(table: Table, row: Row) -> int:
    """A digest of the row's values that both backends' drivers give alike."""
    digest = hashlib.sha256()
    for value in _as_stored(table, row):
        digest.update(_encoded(value))
        digest.update(b"\x1f")
    # Summing per-row digests makes the checksum independent of row order: PostgreSQL's
    # text collation may order keys differently from SQLite's byte order.
    return int.from_bytes(digest.digest(), "big")


def _encoded(value: Any) -> bytes:
    if value is None:
        return b"n"
    if isinstance(value, bytes | bytearray | memoryview):
        return b"b" + bytes(value)
    if isinstance(value, bool):
        return b"i" + str(int(value)).encode()
    if isinstance(value, int):
        return b"i" + str(value).encode()
    if isinstance(value, float):
        return b"f" + value.hex().encode()
    if isinstance(value, str):
        return b"s" + value.encode()
    raise CopyError(f"a value of type {type(value).__name__} cannot be compared across stores")
