"""Polling: change -> extension without a public URL, and what each mode costs Graph.

1. Latency (real time): a link with no public URL and `poll_interval_s` = 10 polls its
   delta; users are created at random moments and we time until the extension exists.
   Expect about half the interval plus one round (~5 s + a round at 10 s).
2. Graph requests per link per hour (emulated time: the engine's clock is moved from one
   due event to the next, with the once-a-minute maintenance, over 11 hours; then one
   sweep on its own, its share being 1/12 an hour), counted at the Graph emulator by path:
   polling every 60 s (the default) and push (safety poll every 15 min), quiet tenant.
   The access token is cached by azure-identity on the wall clock, so token requests
   (about one an hour per link in reality) do not show in emulated time.
Run: python -m bench.poll
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestServer

from bench.stack import percentile, user
from cli.app import create_daemon_app
from cli.commands.demo import add_emulator_link
from emulators.faults import FaultRule
from emulators.harness import RunningEmulators, running_emulators
from store import Database, SecretBox, generate_key
from store.events import enqueue_events
from store.models import EventKind, Link, NewEvent
from webhook.keys import WAKER
from worker.engine import Engine, build_engine
from worker.linkadmin import check_link
from worker.settings import Settings

POLL_S = 10
SAMPLES = 20
# Under 12 h: the sweep is not due yet (rounds record wall time while the engine's clock
# is moved, so in emulated time a sweep would look due again at once); one sweep's cost
# is measured on its own afterwards and spread over its 12 hours.
HOURS = 11
SWEEP_HOURS = 12
MAINTENANCE_S = 60.0


class Clock:
    """Wall time plus an offset the benchmark moves forward."""

    def __init__(self) -> None:
        self.offset_s = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset_s


@dataclass
class PollStack:
    emus: RunningEmulators
    db: Database
    link: Link
    engine: Engine
    clock: Clock


@contextlib.asynccontextmanager
async def poll_stack(*, push: bool, policy: dict[str, Any]) -> AsyncIterator[PollStack]:
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp)
        async with running_emulators(
            state / "emu", graph_options={"allow_http_loopback_notifications": True}
        ) as emus:
            info = emus.info
            emus.graph.identity.grant_admin_consent(info["client_id"])
            db = await Database.open(state / "m365sync.db", SecretBox([generate_key().encode()]))
            settings = Settings(data_dir=state, database=state / "m365sync.db")
            app = create_daemon_app(settings, db=db)
            server = TestServer(app, host="127.0.0.1")
            await server.start_server()
            try:
                if push:
                    settings = Settings(
                        data_dir=state,
                        database=state / "m365sync.db",
                        public_url=str(server.make_url("")).rstrip("/"),
                    )
                link = await add_emulator_link(
                    db,
                    info,
                    name="bench",
                    settings={"auto_create": True, "ranges": "1000-9999", **policy},
                )
                link = await check_link(db, link.id, settings)
                clock = Clock()
                engine = build_engine(db, settings, waker=app[WAKER], clock=clock)
                await engine.run_until_idle(maintain=True)
                await emus.graph.delivery_idle()
                await engine.run_until_idle()
                try:
                    yield PollStack(emus, db, link, engine, clock)
                finally:
                    await engine.clients.close()
            finally:
                await server.close()
                await db.close()


async def latency() -> list[float]:
    async with poll_stack(push=False, policy={"poll_interval_s": POLL_S}) as stack:
        stop = asyncio.Event()
        task = asyncio.create_task(stack.engine.run(stop))
        state = stack.emus.pbx.state
        rng = random.Random(15)
        took: list[float] = []
        try:
            for n in range(SAMPLES):
                # A random moment of the interval, as a real change would come.
                await asyncio.sleep(rng.uniform(0, POLL_S))
                email = f"bench{n:05d}@contoso.example"
                started = time.perf_counter()
                stack.emus.graph.directory.create_user(**user(n))
                while True:
                    if any(a.settings.get("email_address") == email for a in state.extensions()):
                        break
                    await asyncio.sleep(0.01)
                took.append(time.perf_counter() - started)
        finally:
            stop.set()
            await task
    return took


async def requests_per_hour(*, push: bool) -> dict[str, float]:
    async with poll_stack(push=push, policy={}) as stack:
        faults = stack.emus.graph.faults
        rules = {
            name: faults.add(FaultRule(pattern, "latency", count=-1, latency_s=0.0))
            for name, pattern in (
                ("delta", r"/users/delta"),
                ("subscriptions", r"/subscriptions"),
                ("users and groups (sweep)", r"/(users|groups)"),
                ("other", r"."),
            )
        }
        end = stack.clock() + HOURS * 3600.0
        next_maintenance = stack.clock()
        while stack.clock() < end:
            row = await stack.db.fetchone(
                "SELECT MIN(due_at) AS t FROM events WHERE status = 'pending'"
            )
            due = row["t"] if row is not None and row["t"] is not None else end
            target = min(due, next_maintenance, end)
            stack.clock.offset_s += max(0.0, target - stack.clock())
            maintain = stack.clock() >= next_maintenance
            if maintain:
                next_maintenance = stack.clock() + MAINTENANCE_S
            await stack.engine.run_until_idle(maintain=maintain)
            await stack.emus.graph.delivery_idle()
        counts = {name: rule.hits / HOURS for name, rule in rules.items()}
        before = sum(rule.hits for rule in rules.values())
        await enqueue_events(stack.db, [NewEvent(stack.link.id, EventKind.SWEEP)])
        await stack.engine.run_until_idle()
        sweep = sum(rule.hits for rule in rules.values()) - before
    counts["sweep"] = sweep / SWEEP_HOURS
    print(f"  ({'push' if push else 'polling'}: one sweep made {sweep} Graph requests)")
    return counts


def _line(name: str, counts: dict[str, float]) -> str:
    total = sum(counts.values())
    parts = ", ".join(f"{k} {v:.2f}" for k, v in counts.items() if v)
    return f"  {name}: {total:.1f} Graph requests/link/hour ({parts})"


async def main() -> None:
    took = await latency()
    print(f"poll benchmark: no public URL, poll_interval_s={POLL_S}, {SAMPLES} users")
    print(
        f"  change -> extension visible: mean {sum(took) / len(took):.2f} s, "
        f"p50 {percentile(took, 50):.2f} s, min {min(took):.2f} s, max {max(took):.2f} s "
        f"(expected about {POLL_S / 2:.0f} s + one round)"
    )
    print("  each (s): " + " ".join(f"{t:.1f}" for t in sorted(took)))
    polling = await requests_per_hour(push=False)
    push = await requests_per_hour(push=True)
    print(f"Graph requests per link per hour, quiet tenant ({HOURS} emulated h + 1/12 sweep):")
    print(_line("polling every 60 s", polling))
    print(_line("push, safety poll every 900 s", push))


if __name__ == "__main__":
    asyncio.run(main())
