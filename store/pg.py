"""The PostgreSQL backend: the same API as the SQLite `Database`, on an asyncpg pool.

Chosen by a `postgresql://` URL (M365SYNC_DATABASE_URL). Several daemons share one
database; PostgreSQL does the coordination: each `atomic()` is a READ COMMITTED
transaction on a pooled connection, claims pass each other with `FOR UPDATE SKIP
LOCKED`, migrations run under a transaction-level advisory lock, and `notify()`/
`listen()` are PostgreSQL's NOTIFY/LISTEN so one instance wakes another at once.
The SQL of the store modules is translated by `store.dialect`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg

from store.crypto import SecretBox
from store.db import _IN_TRANSACTION, Database, Params, Row, Transaction
from store.dialect import to_postgres
from store.errors import IntegrityError, StoreError
from store.migrations import MIGRATIONS, postgres_ddl, statements

# Any constant both instances agree on: the key of the migration lock.
MIGRATION_LOCK_KEY = 0x6D333635  # "m365"
POOL_SIZE = 10
LISTEN_CONNECT_TIMEOUT_S = 5.0
POOL_CLOSE_TIMEOUT_S = 10.0
# Nothing in the store may wait for ever on a database that went away: a round, the
# webhook and /readyz get an error and go on (retry, 503) instead.
ACQUIRE_TIMEOUT_S = 10.0
COMMAND_TIMEOUT_S = 10.0


class PgDatabase(Database):
    """An open m365sync database on PostgreSQL."""

    dialect = "postgresql"

    def __init__(self, url: str, pool: asyncpg.Pool, box: SecretBox) -> None:
        # No SQLite connections here; the base class's attributes that name them are unused.
        self.path = Path()
        self.url = url
        self._pool = pool
        self.box = box
        self._listener: asyncpg.Connection | None = None
        self._listen_lock = asyncio.Lock()
        self._callbacks: dict[str, list[Callable[[str], None]]] = {}
        self._listen_failed = False

    @classmethod
    async def open_url(cls, url: str, box: SecretBox) -> PgDatabase:
        pool = await asyncpg.create_pool(
            url, min_size=1, max_size=POOL_SIZE, command_timeout=COMMAND_TIMEOUT_S
        )
        try:
            await apply_pg_migrations(pool)
        except BaseException:
            await pool.close()
            raise
        db = cls(url, pool, box)
        try:
            await db._check_key()
        except BaseException:
            await db.close()
            raise
        return db

    async def close(self) -> None:
        if self._listener is not None:
            with contextlib.suppress(OSError, asyncpg.PostgresError):
                await self._listener.close()
            self._listener = None
        try:
            # close() waits for every connection to be handed back; one that a cancelled
            # call left behind (a database outage) must not hold up a shutdown for ever.
            await asyncio.wait_for(self._pool.close(), POOL_CLOSE_TIMEOUT_S)
        except TimeoutError:
            self._pool.terminate()

    @asynccontextmanager
    async def atomic(self) -> AsyncIterator[Transaction]:
        owners = _IN_TRANSACTION.get()
        if id(self) in owners:
            raise StoreError("atomic() does not nest; pass the Transaction down instead")
        token = _IN_TRANSACTION.set(owners | {id(self)})
        try:
            async with self._pool.acquire(timeout=ACQUIRE_TIMEOUT_S) as conn, conn.transaction():
                yield PgTransaction(conn)
        except asyncpg.IntegrityConstraintViolationError as exc:
            raise IntegrityError(str(exc)) from exc
        finally:
            _IN_TRANSACTION.reset(token)

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        text, args = to_postgres(sql, params)
        async with self._pool.acquire(timeout=ACQUIRE_TIMEOUT_S) as conn:
            return list(await conn.fetch(text, *args))

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        text, args = to_postgres(sql, params)
        async with self._pool.acquire(timeout=ACQUIRE_TIMEOUT_S) as conn:
            row: Row | None = await conn.fetchrow(text, *args)
        return row

    async def listen(self, channel: str, callback: Callable[[str], None]) -> bool:
        """One dedicated connection (outside the pool) holds every LISTEN of this instance."""
        callbacks = self._callbacks.setdefault(channel, [])
        if callback not in callbacks:
            callbacks.append(callback)
        async with self._listen_lock:
            if self._listener is not None and not self._listener.is_closed():
                await self._listener.add_listener(channel, self._on_notify)
                return True
        return await self.keep_listening()

    async def keep_listening(self) -> bool:
        async with self._listen_lock:
            if self._listener is not None and not self._listener.is_closed():
                return True
            if not self._callbacks:
                return False
            reconnect = self._listener is not None or self._listen_failed
            self._listener = None
            try:
                conn = await asyncpg.connect(self.url, timeout=LISTEN_CONNECT_TIMEOUT_S)
                for channel in self._callbacks:
                    await conn.add_listener(channel, self._on_notify)
            except (OSError, asyncpg.PostgresError, TimeoutError):
                self._listen_failed = True
                return False
            self._listener = conn
            self._listen_failed = False
        if reconnect:
            # Whatever was notified while nobody listened is lost: tell everyone to look.
            for callbacks in self._callbacks.values():
                for callback in callbacks:
                    callback("")
        return True

    def _on_notify(self, _conn: Any, _pid: int, channel: str, payload: str) -> None:
        for callback in self._callbacks.get(channel, ()):
            callback(payload)

    async def notify(self, channel: str, payload: str) -> None:
        await self._pool.execute("SELECT pg_notify($1, $2)", channel, payload)

    async def backup_to(self, target: Path) -> None:
        raise StoreError(
            "m365sync backup copies a SQLite file; back up PostgreSQL with its own tools"
            " (pg_dump, base backups)"
        )

    async def table_names(self) -> list[str]:
        rows = await self.fetchall(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename"
        )
        return [r["tablename"] for r in rows]


class PgTransaction(Transaction):
    """The statements of one PostgreSQL transaction."""

    dialect = "postgresql"
    skip_locked = " FOR UPDATE SKIP LOCKED"

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._pg = conn

    async def execute(self, sql: str, params: Params = ()) -> int:
        text, args = to_postgres(sql, params)
        await self._pg.execute(text, *args)
        return 0

    async def insert_id(self, sql: str, params: Params = ()) -> int:
        text, args = to_postgres(sql + " RETURNING id", params)
        return int(await self._pg.fetchval(text, *args))

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        batch = list(rows)
        if not batch:
            return
        text, _ = to_postgres(sql, batch[0])
        await self._pg.executemany(text, [to_postgres(sql, r)[1] for r in batch])

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        text, args = to_postgres(sql, params)
        return list(await self._pg.fetch(text, *args))

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        text, args = to_postgres(sql, params)
        row: Row | None = await self._pg.fetchrow(text, *args)
        return row

    async def rowcount(self, sql: str, params: Params = ()) -> int:
        text, args = to_postgres(sql, params)
        status: str = await self._pg.execute(text, *args)
        # "UPDATE 3", "DELETE 0", "INSERT 0 1": the count is the last word.
        return int(status.rsplit(" ", 1)[-1])

    async def serialize(self, key: int) -> None:
        # A read-then-write decision (a free sweep slot) would race under READ COMMITTED.
        await self._pg.execute("SELECT pg_advisory_xact_lock($1)", key)

    async def notify(self, channel: str, payload: str) -> None:
        # PostgreSQL queues a NOTIFY in the transaction and delivers it at COMMIT only.
        await self._pg.execute("SELECT pg_notify($1, $2)", channel, payload)


async def apply_pg_migrations(pool: asyncpg.Pool) -> list[str]:
    """Apply pending migrations in order; returns the names applied now.

    Every step runs in its own transaction that first takes the advisory lock: two
    instances starting together serialise here, and the second finds each step done.
    """
    applied_now: list[str] = []
    async with pool.acquire() as conn:
        for name, sqlite_sql in MIGRATIONS:
            async with conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK_KEY)
                await conn.execute(
                    "CREATE TABLE IF NOT EXISTS migrations"
                    " (name TEXT PRIMARY KEY, applied_at DOUBLE PRECISION NOT NULL)"
                )
                if await conn.fetchval("SELECT 1 FROM migrations WHERE name = $1", name):
                    continue
                for statement in statements(postgres_ddl(name, sqlite_sql)):
                    await conn.execute(statement)
                await conn.execute(
                    "INSERT INTO migrations (name, applied_at) VALUES ($1, $2)", name, time.time()
                )
                applied_now.append(name)
    return applied_now
