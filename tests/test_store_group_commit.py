"""Group commit: concurrent enqueues share transactions and each caller learns the outcome."""

from __future__ import annotations

import asyncio

import pytest

from store import Database
from store.events import list_events
from store.group_commit import GroupCommit, enqueue_durably
from store.models import Link, NewEvent


@pytest.fixture
def backend(both_backends: str) -> str:
    """Every store test here that uses `db` runs on SQLite and on PostgreSQL."""
    return both_backends


async def test_concurrent_enqueues_are_all_committed_in_few_transactions(
    db: Database, link: Link, monkeypatch: pytest.MonkeyPatch
) -> None:
    """200 concurrent callers each return only once their events are stored; they share
    far fewer transactions than callers."""
    transactions = 0
    real_atomic = db.atomic

    def counting_atomic() -> object:
        nonlocal transactions
        transactions += 1
        return real_atomic()

    monkeypatch.setattr(db, "atomic", counting_atomic)
    await asyncio.gather(
        *(enqueue_durably(db, [NewEvent(link.id, "notification", f"u{n}")]) for n in range(200))
    )
    events = await list_events(db, link.id, limit=1000)
    assert sorted(e.user_id or "" for e in events) == sorted(f"u{n}" for n in range(200))
    assert transactions < 20


async def test_a_failed_commit_fails_every_caller_in_it(db: Database, link: Link) -> None:
    """If the transaction fails, every waiting caller gets the error (the webhook answers 503)."""
    group = GroupCommit(db)
    bad = NewEvent(link_id=link.id + 999, kind="notification")  # no such link: FK violation
    results = await asyncio.gather(
        group.enqueue([NewEvent(link.id, "notification", "a")]),
        group.enqueue([bad]),
        return_exceptions=True,
    )
    # Both callers were waiting for the same transaction; it failed as a whole.
    assert all(isinstance(r, Exception) for r in results)
    assert await list_events(db, link.id) == []
    await group.enqueue([NewEvent(link.id, "notification", "b")])
    assert [e.user_id for e in await list_events(db, link.id)] == ["b"]
