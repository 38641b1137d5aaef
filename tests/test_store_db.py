"""The SQLite store: migrations, WAL, transactions, encryption at rest."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import stat
from pathlib import Path

import aiosqlite
import pytest

from store import Database, SecretBox, SecretKeyError, StoreError, generate_key, open_store
from store.links import (
    create_link,
    find_link,
    get_secret,
    load_token_cache,
    save_token_cache,
    set_secret,
)
from store.migrations import MIGRATIONS, apply_migrations
from tests.plugins.store import sample_link


@pytest.fixture
def backend(both_backends: str) -> str:
    """Every store test here that uses `db` runs on SQLite and on PostgreSQL."""
    return both_backends


async def test_migrations_apply_once_and_rerun_as_noops(db_path: Path, secret_key: str) -> None:
    """Opening a fresh file applies every migration once; reopening applies none."""
    box = SecretBox([secret_key.encode()])
    db = await Database.open(db_path, box)
    await db.close()
    async with aiosqlite.connect(db_path) as conn:
        async with conn.execute("SELECT name FROM migrations ORDER BY name") as cur:
            names = [row[0] for row in await cur.fetchall()]
        assert names == [name for name, _ in MIGRATIONS]
        assert await apply_migrations(conn) == []
    db = await Database.open(db_path, box)
    await db.close()


async def test_a_failing_migration_leaves_no_record(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A migration that fails is rolled back together with its record, so it stays pending."""
    monkeypatch.setattr(
        "store.migrations.MIGRATIONS",
        [("0001_ok", "CREATE TABLE a (x)"), ("0002_bad", "CREATE TABLE b (x); NOT SQL")],
    )
    async with aiosqlite.connect(db_path, isolation_level=None) as conn:
        with pytest.raises(aiosqlite.OperationalError):
            await apply_migrations(conn)
        async with conn.execute("SELECT name FROM migrations") as cur:
            assert [r[0] for r in await cur.fetchall()] == ["0001_ok"]
        async with conn.execute("SELECT name FROM sqlite_master WHERE name = 'b'") as cur:
            assert await cur.fetchone() is None


@pytest.mark.parametrize("backend", ["sqlite"])  # WAL, BEGIN IMMEDIATE: SQLite only
async def test_database_uses_wal_and_a_busy_timeout(db: Database) -> None:
    """WAL lets readers run beside the writer; the busy timeout makes other processes wait."""
    row = await db.fetchone("PRAGMA journal_mode")
    assert row is not None and row[0] == "wal"
    row = await db.fetchone("PRAGMA busy_timeout")
    assert row is not None and row[0] >= 5000


async def test_atomic_rolls_back_on_error(db: Database) -> None:
    """Everything inside a failed atomic() block is undone."""
    with pytest.raises(RuntimeError):
        async with db.atomic() as tx:
            await tx.execute("INSERT INTO meta (key, value) VALUES ('x', 'y')")
            raise RuntimeError("boom")
    assert await db.fetchone("SELECT * FROM meta WHERE key = 'x'") is None


@pytest.mark.parametrize("backend", ["sqlite"])  # WAL, BEGIN IMMEDIATE: SQLite only
async def test_a_write_cancelled_while_waiting_to_begin_leaves_no_transaction_open(
    db: Database, db_path: Path
) -> None:
    """Cancelled while BEGIN IMMEDIATE waits for another process's write lock (a round
    stopped, a shutdown): the BEGIN still runs later in aiosqlite's thread and must be
    rolled back, or the connection stays in a transaction and every later write fails."""
    other = sqlite3.connect(db_path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        task = asyncio.create_task(db.write("INSERT INTO meta (key, value) VALUES ('a', '1')"))
        while not db._write_lock.locked():  # noqa: ASYNC110 - then it waits in the BEGIN
            await asyncio.sleep(0)
        await asyncio.sleep(0)
        task.cancel()
        other.execute("COMMIT")
        with pytest.raises(asyncio.CancelledError):
            await task
        await db.write("INSERT INTO meta (key, value) VALUES ('b', '2')")
        # Nobody holds SQLite's write lock now: another connection can write.
        other.execute("BEGIN IMMEDIATE")
        other.execute("ROLLBACK")
    finally:
        other.close()
    assert await db.fetchone("SELECT * FROM meta WHERE key = 'a'") is None
    assert await db.fetchone("SELECT * FROM meta WHERE key = 'b'") is not None


async def test_a_committed_write_is_seen_by_the_next_read_while_other_reads_run(
    db: Database,
) -> None:
    """Read-your-writes. On SQLite the reads share one connection, whose read transaction
    in autocommit mode ends only when its last active statement is reset: reads of other
    coroutines interleaving there kept one WAL snapshot alive, and a caller missed the
    row it had just committed (178 of 300 before the reader took one statement at a
    time; a just-created Graph subscription was then deleted as an orphan)."""
    for n in range(20):
        await db.write("INSERT INTO meta (key, value) VALUES (?, ?)", (f"seed-{n}", b"x"))
    done = asyncio.Event()

    async def keep_reading() -> None:
        while not done.is_set():
            await db.fetchone("SELECT key FROM meta ORDER BY key")

    readers = [asyncio.create_task(keep_reading()) for _ in range(4)]
    missed = []
    try:
        for n in range(200):
            await db.write("INSERT INTO meta (key, value) VALUES (?, ?)", (f"new-{n}", b"y"))
            if await db.fetchone("SELECT key FROM meta WHERE key = ?", (f"new-{n}",)) is None:
                missed.append(n)
    finally:
        done.set()
        await asyncio.gather(*readers)
    assert missed == []


async def test_atomic_refuses_to_nest(db: Database) -> None:
    """Nesting would silently join transactions; it is refused instead."""
    async with db.atomic():
        with pytest.raises(StoreError):
            async with db.atomic():
                pass


async def test_secret_is_not_in_the_raw_database_file(db: Database, db_path: Path) -> None:
    """A secret written through the store appears nowhere in the file's bytes."""
    link = await create_link(db, sample_link())
    secret = "Sup3r-Secret-Value-For-Test"
    await set_secret(db, link.id, "client_secret", secret)
    await save_token_cache(db, link.id, '{"RefreshToken": "rt-secret-in-cache"}')
    assert await get_secret(db, link.id, "client_secret") == secret
    assert await load_token_cache(db, link.id) == '{"RefreshToken": "rt-secret-in-cache"}'
    await db.close()
    raw = b"".join(p.read_bytes() for p in db_path.parent.glob(db_path.name + "*"))
    assert secret.encode() not in raw
    assert b"rt-secret-in-cache" not in raw


async def test_wrong_key_gives_a_clear_error(db_path: Path) -> None:
    """Opening a database with another key fails at once, naming the setting to check."""
    db = await Database.open(db_path, SecretBox([generate_key().encode()]))
    await db.close()
    with pytest.raises(SecretKeyError, match="M365SYNC_SECRET_KEY"):
        await Database.open(db_path, SecretBox([generate_key().encode()]))


def test_malformed_key_gives_a_clear_error() -> None:
    """A key that is not a Fernet key is refused with a hint how to make one."""
    with pytest.raises(SecretKeyError, match="keygen"):
        SecretBox([b"not-a-key"])


async def test_rotated_keys_still_decrypt_old_secrets(db_path: Path) -> None:
    """With M365SYNC_SECRET_KEY=new,old the old secrets stay readable."""
    old = generate_key()
    db = await open_store(db_path, secret_key=old, key_file=db_path.parent / "k")
    link = await create_link(db, sample_link())
    await set_secret(db, link.id, "pbx_password", "pw")
    await db.close()
    db = await open_store(
        db_path, secret_key=f"{generate_key()},{old}", key_file=db_path.parent / "k"
    )
    assert await get_secret(db, link.id, "pbx_password") == "pw"
    await db.close()


async def test_key_file_is_created_with_mode_0600_and_reused(tmp_path: Path) -> None:
    """Without M365SYNC_SECRET_KEY a key file is made once, readable by the owner only."""
    key_file = tmp_path / "data" / "secret.key"
    db = await open_store(tmp_path / "data" / "db.sqlite", secret_key=None, key_file=key_file)
    await db.close()
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    first = key_file.read_bytes()
    db = await open_store(tmp_path / "data" / "db.sqlite", secret_key=None, key_file=key_file)
    await db.close()
    assert key_file.read_bytes() == first


async def test_link_names_are_unique(db: Database) -> None:
    """A second link with the same name is refused with a readable message."""
    await create_link(db, sample_link("a"))
    with pytest.raises(StoreError, match="already exists"):
        await create_link(db, sample_link("a"))
    assert (await find_link(db, "a")).name == "a"
