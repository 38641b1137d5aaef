"""The round cap (M365SYNC_MAX_CONCURRENT_ROUNDS): with more links due than round slots,
no more than the cap run at once; the others stay due with their events unclaimed, and
every one of them gets its round once slots free up (none lost).

Four tenants (one Graph emulator each) and one PBX with a domain per link, the real engine
running in the background with a cap of two. Rounds are held open by holding each link's
round lock, which a started round waits on: it counts as running without finishing.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from cli.commands.demo import add_emulator_link
from emulators.graph.config import GraphEmulatorConfig
from emulators.graph.server import GraphEmulator
from emulators.harness import emulator_info
from emulators.pbx import PbxEmulator, PbxEmulatorConfig
from emulators.tenant import EmulatedTenant
from emulators.tls import create_test_ca
from store import Database, SecretBox, generate_key
from store.events import enqueue_events
from store.models import EventKind, Link, NewEvent
from tests.waiting import until
from worker.context import EngineConfig
from worker.engine import Engine, build_engine
from worker.linkadmin import check_link
from worker.settings import Settings, SettingsError

LINKS = 4
CAP = 2


@dataclass
class Fleet:
    graphs: list[GraphEmulator]
    pbx: PbxEmulator
    links: list[Link]
    engine: Engine
    db: Database


def _domain(n: int) -> str:
    return f"c{n}.pbx.example"


@pytest.fixture
async def fleet(tmp_path: Path) -> AsyncIterator[Fleet]:
    ca = create_test_ca(tmp_path / "ca")
    pbx = PbxEmulator(PbxEmulatorConfig(domains=tuple(_domain(n) for n in range(LINKS))))
    await pbx.start()
    db = await Database.open(tmp_path / "m365sync.db", SecretBox([generate_key().encode()]))
    settings = Settings(data_dir=tmp_path, database=tmp_path / "m365sync.db")
    graphs, links = [], []
    for n in range(LINKS):
        tenant = EmulatedTenant(
            tenant_id=str(uuid.UUID(int=n + 1)),
            domain=f"c{n}.example",
            initial_domain=f"c{n}.onmicrosoft.com",
            admin_upn=f"admin@c{n}.example",
        )
        graph = GraphEmulator(GraphEmulatorConfig(state_dir=tmp_path / "ca", tenant=tenant, tls=ca))
        await graph.start()
        graphs.append(graph)
        graph.identity.grant_admin_consent(tenant.client_id)
        info = emulator_info(graph, pbx)
        info.update(pbx_domain=_domain(n), pbx_tenant_admin=pbx.config.tenant_admin(_domain(n)))
        link = await add_emulator_link(
            db, info, name=f"c{n}", settings={"auto_create": True, "ranges": "200-299"}
        )
        link = await check_link(db, link.id, settings)
        assert link.state.value == "active", link.state_reason
        links.append(link)
    config = EngineConfig(poll_s=0.05, shutdown_grace_s=0.1, max_rounds=CAP)
    engine = build_engine(db, settings, config=config)
    await engine.run_until_idle(maintain=True)
    stop = asyncio.Event()
    task = asyncio.create_task(engine.run(stop))
    try:
        yield Fleet(graphs, pbx, links, engine, db)
    finally:
        stop.set()
        with contextlib.suppress(Exception):
            await task
        await db.close()
        for graph in graphs:
            await graph.stop()
        await pbx.stop()


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
