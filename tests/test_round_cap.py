"""The round cap (M365SYNC_MAX_CONCURRENT_ROUNDS): with more links due than round slots,
no more than the cap run at once; the others stay due with their events unclaimed, and
every one of them gets its round once slots free up (none lost).

Four tenants (one Graph emulator each) and one PBX with a domain per link, the real engine
running in the background with a cap of two. Rounds are held open by holding each link's
round lock, which a started round waits on: it counts as running without finishing.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from emulators.fleet import fleet_domain
from store import Database
from store.events import enqueue_events
from store.models import EventKind, NewEvent
from tests.fleet import Fleet, running_fleet
from tests.waiting import until
from worker.context import EngineConfig
from worker.engine import Engine
from worker.settings import Settings, SettingsError

LINKS = 4
CAP = 2


def _domain(n: int) -> str:
    return fleet_domain(f"c{n}")


@pytest.fixture
async def fleet(tmp_path: Path) -> AsyncIterator[Fleet]:
    config = EngineConfig(poll_s=0.05, shutdown_grace_s=0.1, max_rounds=CAP)
    async with running_fleet(tmp_path, "c", LINKS, config) as running:
        yield running


def _running(engine: Engine) -> set[int]:
    return {link_id for link_id, task in engine._running.items() if not task.done()}


async def _pending_notifications(db: Database) -> set[int]:
    rows = await db.fetchall(
        "SELECT DISTINCT link_id FROM events WHERE kind = 'notification' AND status = 'pending'"
    )
    return {int(r["link_id"]) for r in rows}


async def _loops(engine: Engine, count: int) -> None:
    """Let the engine's loop go round `count` more times (each looks for due work)."""
    for _ in range(count):
        seen = engine.last_loop_at
        await until(lambda seen=seen: engine.last_loop_at > seen, "the engine loops")  # type: ignore[misc]


def _has_extension(fleet: Fleet, n: int, email: str) -> bool:
    return any(
        a.settings.get("email_address") == email for a in fleet.pbx.state.extensions(_domain(n))
    )


async def test_rounds_beyond_the_cap_wait_and_none_is_lost(fleet: Fleet) -> None:
    engine = fleet.engine
    held = []
    for link in fleet.links:
        lock = engine.links._locks.setdefault(link.id, asyncio.Lock())
        await lock.acquire()
        held.append(lock)
    emails = []
    for n, link in enumerate(fleet.links):
        mail = f"new{n}@c{n}.example"
        created = fleet.graphs[n].directory.create_user(
            displayName=f"New {n}",
            givenName="New",
            surname=f"N{n}",
            mail=mail,
            userPrincipalName=mail,
            accountEnabled=True,
            userType="Member",
        )
        await enqueue_events(
            fleet.db, [NewEvent(link.id, EventKind.NOTIFICATION, user_id=created["id"])]
        )
        emails.append(mail)
    engine.ctx.waker.wake()

    await until(lambda: len(_running(engine)) >= CAP, "the cap's rounds started")
    await _loops(engine, 3)
    running = _running(engine)
    assert len(running) == CAP
    # The links beyond the cap were not started: their events wait unclaimed.
    waiting = {link.id for link in fleet.links} - running
    assert waiting <= await _pending_notifications(fleet.db)

    for lock in held:
        lock.release()
    for n, mail in enumerate(emails):
        await until(lambda n=n, mail=mail: _has_extension(fleet, n, mail), f"extension {mail}")  # type: ignore[misc]
    assert not await _pending_notifications(fleet.db)


def test_the_cap_is_a_setting() -> None:
    assert Settings.from_env({}).max_concurrent_rounds == 32
    assert Settings.from_env({"M365SYNC_MAX_CONCURRENT_ROUNDS": "8"}).max_concurrent_rounds == 8
    assert EngineConfig.from_settings(Settings(max_concurrent_rounds=8)).max_rounds == 8
    for bad in ("0", "-1", "many", "1001"):
        with pytest.raises(SettingsError):
            Settings.from_env({"M365SYNC_MAX_CONCURRENT_ROUNDS": bad})
