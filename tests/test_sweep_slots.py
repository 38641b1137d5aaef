"""Sweep slots: no more than M365SYNC_MAX_CONCURRENT_SWEEPS sweeps claimed at once, the
longest-waiting sweep first, and a link waiting for a slot still gets its other events."""

from __future__ import annotations

import time

import pytest

from store import Database
from store.events import claim_events, complete_events, enqueue_events
from store.links import create_link
from store.models import EventKind, Link, NewEvent
from store.sweeps import due_link_ids_with_slots, running_sweeps
from tests.plugins.store import sample_link
from worker.settings import Settings, SettingsError


async def _links(db: Database, count: int) -> list[Link]:
    return [await create_link(db, sample_link(f"link{n}")) for n in range(count)]


async def test_a_sweep_is_not_claimed_without_a_free_slot(db: Database) -> None:
    now = time.time()
    links = await _links(db, 3)
    for offset, link in enumerate(links):
        await enqueue_events(db, [NewEvent(link.id, EventKind.SWEEP)], now=now - 10 + offset)
    claimed = [
        await claim_events(db, link.id, "w", lease_s=60, now=now, max_running_sweeps=2)
        for link in links
    ]
    assert [len(c) for c in claimed] == [1, 1, 0]
    assert await running_sweeps(db, now) == 2
    await complete_events(db, [claimed[0][0].id], "w")
    third = await claim_events(db, links[2].id, "w", lease_s=60, now=now, max_running_sweeps=2)
    assert [e.kind for e in third] == [EventKind.SWEEP]


async def test_a_waiting_sweep_leaves_the_links_notifications_claimable(db: Database) -> None:
    now = time.time()
    busy, waiting = await _links(db, 2)
    await enqueue_events(db, [NewEvent(busy.id, EventKind.SWEEP)], now=now - 5)
    await claim_events(db, busy.id, "w", lease_s=60, now=now, max_running_sweeps=1)
    await enqueue_events(
        db,
        [
            NewEvent(waiting.id, EventKind.SWEEP),
            NewEvent(waiting.id, EventKind.NOTIFICATION, user_id="u1"),
        ],
        now=now - 1,
    )
    claimed = await claim_events(db, waiting.id, "w", lease_s=60, now=now, max_running_sweeps=1)
    assert [e.kind for e in claimed] == [EventKind.NOTIFICATION]
    # The sweep stays queued for a later claim.
    assert await due_link_ids_with_slots(db, 2, now) == [waiting.id]


async def test_due_links_offer_only_as_many_sweeps_as_free_slots(db: Database) -> None:
    now = time.time()
    links = await _links(db, 5)
    # Link 4 fell due first, then 3, 2, ...: the oldest sweeps are offered first.
    for offset, link in enumerate(links):
        await enqueue_events(db, [NewEvent(link.id, EventKind.SWEEP)], now=now - offset)
    assert await due_link_ids_with_slots(db, 2, now) == sorted([links[4].id, links[3].id])
    await claim_events(db, links[4].id, "w", lease_s=60, now=now, max_running_sweeps=2)
    assert await due_link_ids_with_slots(db, 2, now) == [links[3].id]
    await enqueue_events(db, [NewEvent(links[0].id, EventKind.NOTIFICATION, user_id="u")], now=now)
    assert await due_link_ids_with_slots(db, 2, now) == sorted([links[0].id, links[3].id])


async def test_an_expired_sweep_claim_frees_its_slot(db: Database) -> None:
    now = time.time()
    dead, other = await _links(db, 2)
    await enqueue_events(db, [NewEvent(dead.id, EventKind.SWEEP)], now=now - 5)
    await enqueue_events(db, [NewEvent(other.id, EventKind.SWEEP)], now=now - 1)
    await claim_events(db, dead.id, "dead-worker", lease_s=30, now=now, max_running_sweeps=1)
    assert await due_link_ids_with_slots(db, 1, now + 1) == []
    assert await running_sweeps(db, now + 31) == 0
    claimed = await claim_events(db, other.id, "w", lease_s=30, now=now + 31, max_running_sweeps=1)
    assert len(claimed) == 1


def test_the_setting_is_read_and_checked() -> None:
    assert Settings.from_env({}).max_concurrent_sweeps == 4
    assert Settings.from_env({"M365SYNC_MAX_CONCURRENT_SWEEPS": "50"}).max_concurrent_sweeps == 50
    for bad in ("0", "-1", "two", "1001"):
        with pytest.raises(SettingsError):
            Settings.from_env({"M365SYNC_MAX_CONCURRENT_SWEEPS": bad})
