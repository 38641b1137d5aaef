"""The held list in the store: one row per held extension, the migration that made it so,
and the count of recent disables the brake's window reads."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import aiosqlite
import pytest

from store import Database, SecretBox
from store.migrations import MIGRATIONS, apply_migrations
from store.models import AuditEntry, HeldStatus, Link
from store.records import (
    add_audit,
    disables_since,
    held_numbers,
    hold_actions,
    list_held,
    withdraw_held,
)


@pytest.fixture
def backend(both_backends: str) -> str:
    """Every store test here that uses `db` runs on SQLite and on PostgreSQL."""
    return both_backends


def _held(number: str, message: str) -> dict[str, object]:
    return {"action": "held", "number": number, "user_id": f"u{number}", "message": message}


async def test_an_extension_is_held_once_whatever_the_message(db: Database, link: Link) -> None:
    """The second plan's message differs (its counts do); the extension is held once."""
    async with db.atomic() as tx:
        assert (
            await hold_actions(tx, link.id, [_held("205", "4 of 10"), _held("206", "")], "r") == 2
        )
    async with db.atomic() as tx:
        assert await hold_actions(tx, link.id, [_held("205", "5 of 10")], "r") == 0
    assert await held_numbers(db, link.id) == {"205", "206"}
    async with db.atomic() as tx:
        assert await withdraw_held(tx, link.id, ["205", "999"]) == [
            h.id for h in await list_held(db, link.id) if h.action["number"] == "205"
        ]
    assert await held_numbers(db, link.id) == {"206"}
    [withdrawn] = await list_held(db, link.id, HeldStatus.WITHDRAWN)
    assert (withdrawn.action["number"], withdrawn.decided_by) == ("205", "worker")
    async with db.atomic() as tx:  # held again later: a new row, the old one stays withdrawn
        assert await hold_actions(tx, link.id, [_held("205", "again")], "r") == 1


async def test_the_migration_keeps_the_oldest_of_rows_held_twice(
    db_path: Path, secret_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A database from before 0004 with the same extension held three times (the bug): the
    oldest row stays held, the copies are withdrawn, and a fourth copy cannot be added."""
    before = [m for m in MIGRATIONS if m[0] < "0004"]
    monkeypatch.setattr("store.migrations.MIGRATIONS", before)
    async with aiosqlite.connect(db_path, isolation_level=None) as conn:
        await apply_migrations(conn)
        await conn.execute(
            "INSERT INTO links (name, tenant_id, client_id, auth_mode, authority_url, graph_url,"
            " pbx_url, pbx_domain, pbx_user, created_at, updated_at)"
            " VALUES ('c', 't', 'c', 'application', 'a', 'g', 'p', 'd', 'u', 0, 0)"
        )
        for message, number in (("a", "205"), ("b", "205"), ("c", "206"), ("d", "205")):
            await conn.execute(
                "INSERT INTO held_actions (link_id, action, reason, created_at)"
                " VALUES (1, json_object('number', ?, 'message', ?), 'r', ?)",
                (number, message, time.time()),
            )
    monkeypatch.undo()
    db = await Database.open(db_path, SecretBox([secret_key.encode()]))
    try:
        held = await list_held(db, 1)
        assert [(h.action["number"], h.action["message"]) for h in held] == [
            ("205", "a"),
            ("206", "c"),
        ]
        assert len(await list_held(db, 1, HeldStatus.WITHDRAWN)) == 2
        with pytest.raises(sqlite3.IntegrityError):
            await db.write(
                "INSERT INTO held_actions (link_id, action, reason, created_at, number)"
                " VALUES (1, '{}', 'r', 0, '205')"
            )
    finally:
        await db.close()


async def test_the_window_counts_extensions_disabled_since_not_approvals(
    db: Database, link: Link
) -> None:
    """Distinct extensions disabled ok since the cut-off; approvals and failures do not count."""
    now = time.time()

    def entry(
        number: str, at: float, trigger: str = "notification", outcome: str = "ok"
    ) -> AuditEntry:
        return AuditEntry(link.id, "disable", outcome, trigger, number=number, at=at)

    async with db.atomic() as tx:
        await add_audit(
            tx,
            [
                entry("200", now - 10),
                entry("200", now - 5),  # the same extension again (disabled, enabled, disabled)
                entry("201", now - 5, trigger="sweep"),
                entry("202", now - 5, trigger="approval"),
                entry("203", now - 5, outcome="failed"),
                entry("204", now - 4000),
                AuditEntry(link.id, "enable", "ok", "notification", number="205", at=now),
            ],
        )
    assert await disables_since(db, link.id, now - 3600) == 2
    assert await disables_since(db, link.id, now - 5000) == 3
