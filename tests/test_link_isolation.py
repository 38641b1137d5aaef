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
import re
import statistics
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from emulators.faults import FaultRule
from emulators.fleet import fleet_domain, fleet_user
from store.events import enqueue_events
from store.models import EventKind, NewEvent
from tests.fleet import Fleet, running_fleet
from worker.context import EngineConfig

QUIET, THROTTLED, HUNG = 0, 1, 2
# Below this a difference is scheduling noise on a shared machine, not a slowdown.
FLOOR_S = 0.25


def _domain(n: int) -> str:
    return fleet_domain(f"t{n}")


@pytest.fixture
async def fleet(tmp_path: Path) -> AsyncIterator[Fleet]:
    # Maintenance every 0.1 s, so it runs (and meets the throttled tenant) during the test.
    config = EngineConfig(poll_s=0.05, shutdown_grace_s=0.1, maintenance_every_s=0.1)
    async with running_fleet(tmp_path, "t", 3, config, push=True) as running:
        yield running


async def _notify(fleet: Fleet, n: int, k: int) -> str:
    """A new user in tenant n and the notification event the webhook would commit."""
    created = fleet.graphs[n].directory.create_user(**fleet_user(fleet.graphs[n].config.tenant, k))
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
