"""One link's trouble never slows the others: while one tenant's Graph answers 429 with a
long Retry-After and another link's PBX domain hangs, a quiet link's change still reaches
its PBX within 2x of its normal time, and the throttled link waits out its own
Retry-After (it does not hammer Graph, and nobody else waits with it).

Three tenants (one Graph emulator each, as Graph tells tenants apart by the token) and one
PBX with a domain per link, the real engine running in the background. Faults are scoped:
the Graph emulator of one tenant, the paths of one PBX domain.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import statistics
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from cli.app import create_daemon_app
from cli.commands.demo import add_emulator_link
from emulators.faults import FaultRule
from emulators.graph.config import GraphEmulatorConfig
from emulators.graph.server import GraphEmulator
from emulators.harness import emulator_info
from emulators.pbx import PbxEmulator, PbxEmulatorConfig
from emulators.tenant import EmulatedTenant
from emulators.tls import create_test_ca
from store import Database, SecretBox, generate_key
from store.events import enqueue_events
from store.models import EventKind, Link, NewEvent
from webhook.keys import WAKER
from worker.context import EngineConfig
from worker.engine import Engine, build_engine
from worker.linkadmin import check_link
from worker.settings import Settings

QUIET, THROTTLED, HUNG = 0, 1, 2
# Below this a difference is scheduling noise on a shared machine, not a slowdown.
FLOOR_S = 0.25


@dataclass
class Fleet:
    graphs: list[GraphEmulator]
    pbx: PbxEmulator
    links: list[Link]
    engine: Engine
    db: Database


def _domain(n: int) -> str:
    return f"t{n}.pbx.example"


def _tenant(n: int) -> EmulatedTenant:
    return EmulatedTenant(
        tenant_id=str(uuid.UUID(int=n + 1)),
        domain=f"t{n}.example",
        initial_domain=f"t{n}.onmicrosoft.com",
        admin_upn=f"admin@t{n}.example",
    )


@pytest.fixture
async def fleet(tmp_path: Path) -> AsyncIterator[Fleet]:
    ca = create_test_ca(tmp_path / "ca")
    pbx = PbxEmulator(PbxEmulatorConfig(domains=tuple(_domain(n) for n in range(3))))
    await pbx.start()
    graphs = []
    db = await Database.open(tmp_path / "m365sync.db", SecretBox([generate_key().encode()]))
    settings = Settings(data_dir=tmp_path, database=tmp_path / "m365sync.db")
    app = create_daemon_app(settings, db=db)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    # With push: maintenance checks every link's subscription with Graph.
    settings = replace(settings, public_url=str(server.make_url("")).rstrip("/"))
    links = []
    for n in range(3):
        tenant = _tenant(n)
        graph = GraphEmulator(
            GraphEmulatorConfig(
                state_dir=tmp_path / "ca",
                tenant=tenant,
                tls=ca,
                allow_http_loopback_notifications=True,
            )
        )
        await graph.start()
        graphs.append(graph)
        graph.identity.grant_admin_consent(tenant.client_id)
        info = emulator_info(graph, pbx)
        info.update(pbx_domain=_domain(n), pbx_tenant_admin=pbx.config.tenant_admin(_domain(n)))
        link = await add_emulator_link(
            db, info, name=f"t{n}", settings={"auto_create": True, "ranges": "200-299"}
        )
        link = await check_link(db, link.id, settings)
        assert link.state.value == "active", link.state_reason
        links.append(link)
    # Maintenance every 0.1 s, so it runs (and meets the throttled tenant) during the test.
    config = EngineConfig(poll_s=0.05, shutdown_grace_s=0.1, maintenance_every_s=0.1)
    engine = build_engine(db, settings, waker=app[WAKER], config=config)
    await engine.run_until_idle(maintain=True)
    stop = asyncio.Event()
    task = asyncio.create_task(engine.run(stop))
    try:
        yield Fleet(graphs, pbx, links, engine, db)
    finally:
        stop.set()
        with contextlib.suppress(Exception):
            await task
        await server.close()
        await db.close()
        for graph in graphs:
            await graph.stop()
        await pbx.stop()


def _user(n: int, k: int) -> dict[str, Any]:
    mail = f"user{k}@t{n}.example"
    return {
        "displayName": f"User {k}",
        "givenName": "User",
        "surname": f"N{k}",
        "mail": mail,
        "userPrincipalName": mail,
        "accountEnabled": True,
        "userType": "Member",
    }


async def _notify(fleet: Fleet, n: int, k: int) -> str:
    """A new user in tenant n and the notification event the webhook would commit."""
    created = fleet.graphs[n].directory.create_user(**_user(n, k))
    event = NewEvent(fleet.links[n].id, EventKind.NOTIFICATION, user_id=created["id"])
    await enqueue_events(fleet.db, [event])
    fleet.engine.ctx.waker.wake({fleet.links[n].id})
    return str(created["mail"])


async def _change_to_extension_s(fleet: Fleet, k: int) -> float:
    started = time.perf_counter()
    email = await _notify(fleet, QUIET, k)
    async with asyncio.timeout(20):
        while not any(  # noqa: ASYNC110 - the emulator's state is the probe
            a.settings.get("email_address") == email
            for a in fleet.pbx.state.extensions(_domain(QUIET))
        ):
            await asyncio.sleep(0.005)
    return time.perf_counter() - started


async def _median_latency_s(fleet: Fleet, first_k: int) -> float:
    return statistics.median([await _change_to_extension_s(fleet, first_k + i) for i in range(5)])


async def _wait_hits(rule: FaultRule, hits: int) -> None:
    async with asyncio.timeout(20):
        while rule.hits < hits:  # noqa: ASYNC110 - the emulator's fault rule is the probe
            await asyncio.sleep(0.01)


async def test_a_throttled_tenant_and_a_hung_pbx_leave_a_quiet_link_at_speed(
    fleet: Fleet,
) -> None:
    normal_s = await _median_latency_s(fleet, 0)

    # Tenant 1's Graph throttles every request for minutes; PBX domain 2 never answers.
    throttle = fleet.graphs[THROTTLED].faults.add(
        FaultRule(path_pattern="^/v1.0/", kind="status", status=429, retry_after_s=60, count=-1)
    )
    hang = fleet.pbx.faults.add(
        FaultRule(path_pattern=re.escape(_domain(HUNG)), kind="latency", latency_s=600, count=-1)
    )
    await _notify(fleet, THROTTLED, 0)
    await _notify(fleet, HUNG, 0)
    # The next maintenance looks the subscriptions up again (as every 15 minutes): the
    # throttled tenant's check then waits out its Retry-After inside the maintenance.
    fleet.engine.scheduler._verified.clear()
    await _wait_hits(throttle, 2)
    await _wait_hits(hang, 1)

    troubled_s = await _median_latency_s(fleet, 100)

    assert troubled_s <= 2 * max(normal_s, FLOOR_S), (normal_s, troubled_s)
    # Both troubled links are still in their rounds: the quiet link did not wait for them.
    running = fleet.engine._running
    assert not running[fleet.links[THROTTLED].id].done()
    assert not running[fleet.links[HUNG].id].done()
    # The throttled link honours its own Retry-After: its round's delta read and its
    # subscription check were each refused once and wait their 60 s, no retry yet.
    assert throttle.hits <= 2
    assert not fleet.pbx.state.extensions(_domain(THROTTLED))
