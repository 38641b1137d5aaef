"""`m365sync store copy`: a synced SQLite deployment moved into an empty PostgreSQL
database, checked row for row, and a daemon on PostgreSQL carrying on from it."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from store import Database, SecretBox, generate_key, open_database
from store.admins import get_admin_account, set_admin_account
from store.copy import CopyError, copy_store
from store.directory import get_bindings
from store.events import enqueue_events
from store.leases import live_leases
from store.links import get_secret, secret_names
from store.models import EventKind, NewEvent
from tests.plugins.pipeline import MakeStack, ShiftedClock, graph_user
from worker.context import EngineConfig
from worker.engine import build_engine


async def _counts(db: Database, tables: list[str]) -> dict[str, int]:
    return {
        t: int((await db.fetchone(f'SELECT COUNT(*) AS n FROM "{t}"'))["n"])  # type: ignore[index]  # noqa: S608
        for t in tables
    }


async def test_a_synced_deployment_moves_to_postgresql_and_carries_on(
    make_stack: MakeStack, pg_url: str
) -> None:
    stack = await make_stack(users=12, extensions=3, graph_options={"replication_lag_s": 0})
    await stack.settle()
    await set_admin_account(stack.db, "admin", "pbkdf2$not-a-real-hash")
    assert await live_leases(stack.db) == []
    bindings = await get_bindings(stack.db, stack.link.id)
    assert len(bindings) == 12

    pg = await open_database(pg_url, stack.db.box)
    try:
        report = await copy_store(stack.db, pg)
        tables = [t.name for t in report.tables]
        assert {"links", "secrets", "events", "audit", "bindings", "meta"} <= set(tables)
        assert await _counts(pg, tables) == await _counts(stack.db, tables)
        assert {t.name: t.rows for t in report.tables} == await _counts(stack.db, tables)
        # Secrets arrive as the same ciphertext: the same key reads them on PostgreSQL.
        names = await secret_names(stack.db, stack.link.id)
        assert names
        for name in names:
            assert await get_secret(pg, stack.link.id, name) == await get_secret(
                stack.db, stack.link.id, name
            )
        account = await get_admin_account(pg)
        assert account is not None and account.username == "admin"
        assert [b.number for b in await get_bindings(pg, stack.link.id)] == [
            b.number for b in bindings
        ]

        # A daemon on PostgreSQL carries on: a newcomer gets the next number, and the new
        # rows take ids after the copied ones (the identities were moved on).
        max_event = (await stack.db.fetchone("SELECT MAX(id) AS n FROM events"))["n"]  # type: ignore[index]
        stack.directory.create_user(**graph_user("Newcomer", "Afterthecopy"))
        await enqueue_events(pg, [NewEvent(stack.link.id, EventKind.RESYNC)])
        row = await pg.fetchone("SELECT MAX(id) AS n FROM events")
        assert row is not None and row["n"] > max_event
        engine = build_engine(
            pg,
            stack.settings,
            config=EngineConfig(recheck_delays_s=(0.2, 0.5)),
            clock=ShiftedClock(),
        )
        try:
            await engine.run_until_idle()
        finally:
            await engine.shutdown()
        after = await get_bindings(pg, stack.link.id)
        assert len(after) == 13
        numbers = [b.number for b in after]
        assert len(set(numbers)) == 13
        emails = [a.settings.get("email_address") for a in stack.pbx_state.extensions()]
        assert "newcomer.afterthecopy@contoso.example" in emails
    finally:
        await pg.close()


async def test_a_second_copy_into_the_same_database_is_refused(
    make_stack: MakeStack, pg_url: str
) -> None:
    stack = await make_stack(users=3, graph_options={"replication_lag_s": 0})
    await stack.settle()
    pg = await open_database(pg_url, stack.db.box)
    try:
        first = await copy_store(stack.db, pg)
        with pytest.raises(CopyError, match="already has rows in"):
            await copy_store(stack.db, pg)
        tables = [t.name for t in first.tables]
        assert await _counts(pg, tables) == {t.name: t.rows for t in first.tables}
    finally:
        await pg.close()


async def test_a_store_in_use_is_not_copied(make_stack: MakeStack, pg_url: str) -> None:
    stack = await make_stack(users=2, graph_options={"replication_lag_s": 0})
    await stack.settle()
    await stack.db.write(
        "INSERT INTO link_leases (link_id, owner, until, host, pid) VALUES (?, ?, ?, ?, ?)",
        (stack.link.id, "other", 4e9, "pbx-host-2", 4242),
    )
    pg = await open_database(pg_url, stack.db.box)
    try:
        with pytest.raises(CopyError, match=r"a daemon still holds contoso \(pid 4242"):
            await copy_store(stack.db, pg)
        assert await pg.fetchone("SELECT 1 FROM links") is None
    finally:
        await pg.close()


async def test_a_row_postgresql_refuses_leaves_the_target_empty(
    make_stack: MakeStack, pg_url: str
) -> None:
    """SQLite keeps a NUL character in text; PostgreSQL refuses it. The copy stops with a
    clear error and the target has none of the rows copied before it."""
    stack = await make_stack(users=3, graph_options={"replication_lag_s": 0})
    await stack.settle()
    await stack.db.write(
        "UPDATE audit SET reason = ? WHERE id = (SELECT MAX(id) FROM audit)", ("bad\x00text",)
    )
    pg = await open_database(pg_url, stack.db.box)
    try:
        with pytest.raises(CopyError, match="table audit"):
            await copy_store(stack.db, pg)
        assert await pg.fetchone("SELECT 1 FROM links") is None
        assert await pg.fetchone("SELECT 1 FROM audit") is None
    finally:
        await pg.close()


async def test_the_command_copies_and_says_what_it_checked(tmp_path: Path, pg_url: str) -> None:
    key = generate_key()
    source = tmp_path / "m365sync.db"
    db = await Database.open(source, SecretBox([key.encode()]))
    await set_admin_account(db, "admin", "pbkdf2$x")
    await db.close()
    env = {**os.environ, "M365SYNC_SECRET_KEY": key, "M365SYNC_DATA_DIR": str(tmp_path)}

    async def run(*args: str) -> tuple[int, str]:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            "import sys; from cli.cli import main; sys.exit(main())",
            "store",
            "copy",
            *args,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await proc.communicate()
        return proc.returncode or 0, out.decode()

    rc, out = await run(str(source), pg_url)
    assert rc == 0, out
    assert "copied and verified" in out and "meta" in out
    rc, out = await run(f"sqlite:///{source}", pg_url)
    assert rc == 1 and "already has rows in" in out, out
    rc, out = await run(str(tmp_path / "missing.db"), pg_url)
    assert rc == 2 and "SOURCE must be an existing SQLite file" in out, out
    rc, out = await run(str(source), "mysql://db/x")
    assert rc == 2 and "mysql:// is not a store" in out, out


async def test_a_copy_into_a_new_sqlite_file_matches_too(
    make_stack: MakeStack, tmp_path: Path
) -> None:
    stack = await make_stack(users=4, graph_options={"replication_lag_s": 0})
    await stack.settle()
    target = await Database.open(tmp_path / "copy.db", stack.db.box)
    try:
        report = await copy_store(stack.db, target)
        tables = [t.name for t in report.tables]
        assert await _counts(target, tables) == await _counts(stack.db, tables)
        assert len(await get_bindings(target, stack.link.id)) == 4
    finally:
        await target.close()
