"""The SQLite database: one writer connection, one reader connection, WAL mode.

All writes go through `atomic()`, which takes an asyncio lock (one transaction at a
time on the shared writer connection) and then `BEGIN IMMEDIATE` (one writer at a
time across processes, waiting up to the busy timeout). Reads use a second
connection so they never see another coroutine's uncommitted transaction.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Protocol

import aiosqlite

from store.crypto import SecretBox
from store.errors import StoreError
from store.migrations import apply_migrations

BUSY_TIMEOUT_MS = 10_000
_PROBE_KEY = "ready_probe"
# What a database holds before anyone used it: the key check written at open, the probe.
HOUSEKEEPING_META_KEYS = frozenset({"key_check", _PROBE_KEY})

# The databases whose transaction the current task (and its children) is inside: a
# nested atomic() on the same database would wait for its own lock forever.
_IN_TRANSACTION: ContextVar[frozenset[int]] = ContextVar("in_transaction", default=frozenset())


class Row(Protocol):
    """A result row by column name or position: sqlite3.Row and asyncpg.Record both are."""

    def __getitem__(self, key: str | int, /) -> Any: ...

    def keys(self) -> Any: ...


Params = Sequence[Any] | dict[str, Any]


class Database:
    """An open m365sync database. Create with `await Database.open(...)`.

    This class is the SQLite backend; `store.backends.open_database()` opens either it or,
    for a `postgresql://` URL, the PostgreSQL one (`store.pg.PgDatabase`), same API.
    """

    dialect = "sqlite"

    def __init__(
        self,
        path: Path,
        writer: aiosqlite.Connection,
        reader: aiosqlite.Connection,
        box: SecretBox,
    ) -> None:
        self.path = path
        self._writer = writer
        self._reader = reader
        self.box = box
        self._write_lock = asyncio.Lock()
        # One statement at a time on the reader. In autocommit mode SQLite ends a read
        # transaction only when its last active statement is reset, and in WAL mode a
        # read transaction sees the database as it was when it began. Reads of concurrent
        # coroutines interleaving on the one connection (execute, fetch and close are
        # separate steps) kept one read transaction open for as long as they overlapped,
        # and a coroutine then missed its own committed write: 178 of 300 in a probe with
        # 4 readers running, and a just-created Graph subscription taken for an orphan and
        # deleted (1 link in 500 in bench/links.py).
        self._read_lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: Path | str, box: SecretBox, *, synchronous: str = "full") -> Database:
        if is_postgres_url(path):
            raise StoreError("a PostgreSQL URL is opened by store.backends.open_database()")
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        writer = await _connect(path, synchronous)
        try:
            # Changing the journal mode commits any open transaction as a side
            # effect, so it happens here, before anything else runs.
            await writer.execute("PRAGMA journal_mode=WAL")
            await apply_migrations(writer)
            reader = await _connect(path, synchronous)
        except BaseException:
            await writer.close()
            raise
        db = cls(path, writer, reader, box)
        try:
            await db._check_key()
        except BaseException:
            await db.close()
            raise
        return db

    async def close(self) -> None:
        await self._reader.close()
        await self._writer.close()

    @asynccontextmanager
    async def atomic(self) -> AsyncIterator[Transaction]:
        """A write transaction on `BEGIN IMMEDIATE`; commits on success, rolls back on error."""
        owners = _IN_TRANSACTION.get()
        if id(self) in owners:
            raise StoreError("atomic() does not nest; pass the Transaction down instead")
        async with self._write_lock:
            token = _IN_TRANSACTION.set(owners | {id(self)})
            try:
                try:
                    await self._writer.execute("BEGIN IMMEDIATE")
                except asyncio.CancelledError:
                    # aiosqlite's thread runs the queued BEGIN anyway: queue a ROLLBACK
                    # behind it, or the connection stays inside a transaction, holding
                    # SQLite's write lock, and every later atomic() fails.
                    await asyncio.shield(self._writer.rollback())
                    raise
                try:
                    yield Transaction(self._writer)
                except BaseException:
                    await self._writer.rollback()
                    raise
                await self._writer.commit()
            finally:
                _IN_TRANSACTION.reset(token)

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        async with self._read_lock, self._reader.execute(sql, params) as cursor:
            return list(await cursor.fetchall())

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        async with self._read_lock, self._reader.execute(sql, params) as cursor:
            return await cursor.fetchone()

    async def write(self, sql: str, params: Params = ()) -> None:
        """One statement in its own transaction."""
        async with self.atomic() as tx:
            await tx.execute(sql, params)

    async def probe_write(self, now: float | None = None) -> float:
        """A cheap committed write (one meta row): proves the store takes writes right now
        (the readiness check)."""
        stamp = time.time() if now is None else now
        async with self.atomic() as tx:
            await tx.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (_PROBE_KEY, repr(stamp).encode()),
            )
        return stamp

    async def notify(self, channel: str, payload: str) -> None:
        """Tell other instances something changed; SQLite has no other instance to tell."""

    async def listen(self, channel: str, callback: Callable[[str], None]) -> bool:
        """Call `callback(payload)` on every `notify` by any instance. False: not supported
        here (the worker polls)."""
        return False

    async def keep_listening(self) -> bool:
        """Reconnect a lost listener (its callbacks then get "": notifications may have
        been missed meanwhile). True while every `listen` is in place; SQLite: False."""
        return False

    async def backup_to(self, target: Path) -> None:
        """SQLite's online backup API: a consistent copy while others keep writing."""
        target.parent.mkdir(parents=True, exist_ok=True)
        async with aiosqlite.connect(target) as dest, self._read_lock:
            await self._reader.backup(dest)

    async def _check_key(self) -> None:
        row = await self.fetchone("SELECT value FROM meta WHERE key = 'key_check'")
        if row is None:
            token = self.box.encrypt(b"m365sync")
            await self.write(
                "INSERT INTO meta (key, value) VALUES ('key_check', ?)"
                " ON CONFLICT (key) DO NOTHING",
                (token,),
            )
            return
        self.box.decrypt(row["value"], what="the database's key check")


class Transaction:
    """The statements of one `atomic()` block."""

    dialect = "sqlite"
    # Appended to the inner SELECT of a claim: PostgreSQL lets concurrent claimers pass
    # each other's rows; SQLite has one writer at a time anyway.
    skip_locked = ""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def execute(self, sql: str, params: Params = ()) -> int:
        cursor = await self._conn.execute(sql, params)
        rowid = cursor.lastrowid or 0
        await cursor.close()
        return rowid

    async def insert_id(self, sql: str, params: Params = ()) -> int:
        """An INSERT into a table with an `id` key; returns the new row's id."""
        return await self.execute(sql, params)

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        await self._conn.executemany(sql, rows)

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        async with self._conn.execute(sql, params) as cursor:
            return list(await cursor.fetchall())

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        async with self._conn.execute(sql, params) as cursor:
            return await cursor.fetchone()

    async def rowcount(self, sql: str, params: Params = ()) -> int:
        cursor = await self._conn.execute(sql, params)
        count = cursor.rowcount
        await cursor.close()
        return count

    async def serialize(self, key: int) -> None:
        """Make this transaction the only one, across every instance, past this point for
        `key` until it ends. SQLite's `BEGIN IMMEDIATE` already admits one writer."""

    async def notify(self, channel: str, payload: str) -> None:
        """`Database.notify` sent when (and only if) this transaction commits; SQLite has
        no other instance to tell."""


def is_postgres_url(location: Path | str) -> bool:
    return isinstance(location, str) and location.startswith(("postgresql://", "postgres://"))


async def _connect(path: Path, synchronous: str) -> aiosqlite.Connection:
    conn = await aiosqlite.connect(path, isolation_level=None)
    conn.row_factory = sqlite3.Row
    await conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    # FULL survives power loss as well as a killed process; NORMAL only the latter.
    await conn.execute(f"PRAGMA synchronous={'FULL' if synchronous == 'full' else 'NORMAL'}")
    await conn.execute("PRAGMA foreign_keys=ON")
    return conn
