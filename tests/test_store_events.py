"""The durable event queue on real SQLite files and real processes."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from store import Database, SecretBox, open_database
from store.events import (
    claim_events,
    complete_events,
    enqueue_events,
    fail_events,
    list_events,
    queue_stats,
    release_events,
    retry_failed,
)
from store.models import EventStatus, Link, NewEvent


@pytest.fixture
def backend(both_backends: str) -> str:
    """Every store test here that uses `db` runs on SQLite and on PostgreSQL."""
    return both_backends


ROOT = Path(__file__).resolve().parent.parent


async def test_enqueue_claim_complete(db: Database, link: Link) -> None:
    """All due events of a link are claimed at once and completed."""
    await enqueue_events(db, [NewEvent(link.id, "notification", f"u{i}") for i in range(5)])
    claimed = await claim_events(db, link.id, "w1", lease_s=60)
    assert [e.user_id for e in claimed] == [f"u{i}" for i in range(5)]
    assert all(e.status is EventStatus.CLAIMED and e.attempts == 1 for e in claimed)
    assert await claim_events(db, link.id, "w2", lease_s=60) == []
    assert await complete_events(db, [e.id for e in claimed], "w1") == 5
    stats = await queue_stats(db, link.id)
    assert (stats.pending, stats.claimed, stats.failed) == (0, 0, 0)


async def test_future_events_are_not_due(db: Database, link: Link) -> None:
    """An event due later is not claimed before its time."""
    now = time.time()
    await enqueue_events(db, [NewEvent(link.id, "recheck", "u1", due_at=now + 60)], now=now)
    assert await claim_events(db, link.id, "w", lease_s=10, now=now) == []
    assert len(await claim_events(db, link.id, "w", lease_s=10, now=now + 61)) == 1


async def test_expired_lease_is_claimable_again(db: Database, link: Link) -> None:
    """A dead worker's claim is claimable after its lease; the old owner cannot complete it."""
    now = time.time()
    await enqueue_events(db, [NewEvent(link.id, "notification", "u1")], now=now)
    first = await claim_events(db, link.id, "dead-worker", lease_s=30, now=now)
    assert await claim_events(db, link.id, "w2", lease_s=30, now=now + 29) == []
    second = await claim_events(db, link.id, "w2", lease_s=30, now=now + 31)
    assert [e.id for e in second] == [first[0].id]
    assert second[0].attempts == 2
    assert await complete_events(db, [first[0].id], "dead-worker") == 0
    assert await complete_events(db, [first[0].id], "w2") == 1


async def test_failed_events_retry_then_stay_failed_and_visible(db: Database, link: Link) -> None:
    """Failing returns the event with a next-attempt time; past the cap it is kept as failed."""
    now = time.time()
    await enqueue_events(db, [NewEvent(link.id, "notification", "u1")], now=now)
    for attempt in range(1, 4):
        claimed = await claim_events(db, link.id, "w", lease_s=10, now=now + attempt * 100)
        assert claimed[0].attempts == attempt
        await fail_events(
            db,
            [claimed[0].id],
            "w",
            error=f"boom {attempt}",
            retry_at=now + attempt * 100 + 50,
            max_attempts=3,
        )
    failed = await list_events(db, link.id, EventStatus.FAILED)
    assert len(failed) == 1 and failed[0].last_error == "boom 3"
    assert await claim_events(db, link.id, "w", lease_s=10, now=now + 10_000) == []
    assert await retry_failed(db, link.id, now=now + 10_000) == 1
    again = await claim_events(db, link.id, "w", lease_s=10, now=now + 10_000)
    assert again[0].attempts == 1


async def test_release_hands_events_back_without_counting(db: Database, link: Link) -> None:
    """A released claim (shutdown, setup required) does not use up an attempt."""
    await enqueue_events(db, [NewEvent(link.id, "notification", "u1")])
    claimed = await claim_events(db, link.id, "w", lease_s=10)
    assert await release_events(db, [claimed[0].id], "w") == 1
    again = await claim_events(db, link.id, "w", lease_s=10)
    assert again[0].attempts == 1


async def test_claims_are_per_link(db: Database, link: Link) -> None:
    """Claiming one link's events leaves other links' events alone."""
    from store.links import create_link
    from tests.plugins.store import sample_link

    other = await create_link(db, sample_link("other"))
    await enqueue_events(
        db, [NewEvent(link.id, "notification", "a"), NewEvent(other.id, "notification", "b")]
    )
    assert [e.user_id for e in await claim_events(db, link.id, "w", lease_s=10)] == ["a"]
    assert [e.user_id for e in await claim_events(db, other.id, "w", lease_s=10)] == ["b"]


async def test_sigkill_after_enqueue_loses_no_committed_event(
    db: Database, link: Link, store_location: Path | str, secret_key: str
) -> None:
    """A process killed with SIGKILL mid-stream keeps every batch it reported as committed."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.procs.enqueuer",
            str(store_location),
            secret_key,
            str(link.id),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    last = -1
    for line in proc.stdout:
        last = int(line)
        if last >= 50:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    reopened = await open_database(store_location, SecretBox([secret_key.encode()]))
    try:
        rows = await reopened.fetchall("SELECT user_id FROM events WHERE link_id = ?", (link.id,))
    finally:
        await reopened.close()
    users = {r["user_id"] for r in rows}
    for batch in range(last + 1):
        for i in range(10):
            assert f"user-{batch}-{i}" in users
    # Whole batches only: a transaction is all or nothing.
    assert len(rows) % 10 == 0


async def test_two_processes_never_claim_the_same_event(
    db: Database, link: Link, store_location: Path | str, secret_key: str
) -> None:
    """Two real processes draining one link's queue at once claim disjoint sets covering all."""
    total = 2000
    await enqueue_events(db, [NewEvent(link.id, "notification", f"u{i}") for i in range(total)])
    procs = [
        subprocess.Popen(
            [
                sys.executable, "-m", "tests.procs.claimer", str(store_location), secret_key,
                str(link.id), f"proc-{n}",
            ],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for n in range(2)
    ]  # fmt: skip
    for proc in procs:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    outputs = [p.communicate(timeout=60)[0] for p in procs]
    claimed = [[int(x) for x in out.split()] for out in outputs]
    assert all(claimed), "both processes should have claimed something"
    assert set(claimed[0]).isdisjoint(claimed[1])
    assert len(claimed[0]) + len(claimed[1]) == total
    stats = await queue_stats(db, link.id)
    assert (stats.pending, stats.claimed) == (0, 0)


async def test_purge_removes_only_old_finished_events(db: Database, link: Link) -> None:
    """Done events past the horizon go; recent done ones and unfinished ones always stay."""
    from store.events import purge_done_events

    now = time.time()
    await enqueue_events(
        db, [NewEvent(link.id, "notification", f"u{i}") for i in range(3)], now=now
    )
    claimed = await claim_events(db, link.id, "w", lease_s=10, now=now)
    await complete_events(db, [claimed[0].id, claimed[1].id], "w")
    await fail_events(
        db, [claimed[2].id], "w", error="x", retry_at=now, max_attempts=1
    )  # failed, unfinished
    assert await purge_done_events(db, older_than=now - 60) == 0
    assert await purge_done_events(db, older_than=time.time() + 1) == 2
    (left,) = await list_events(db, link.id)
    assert left.status is EventStatus.FAILED
