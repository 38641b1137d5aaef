"""What one notification the delta does not show costs: Graph and PBX requests, rounds.

Graph notifies `updated` for changes to properties outside our $select (officeLocation,
a password change); with replication lag a notified change may not be in the delta yet
either. Each such notification starts a round and up to three rechecks. This bench seeds
USERS users (all synced to the PBX), then sends NOTIFICATIONS of these notifications one
at a time, works each (rechecks included; emulated time jumps instead of waiting) and
prints the requests the product made per notification, from its own Prometheus counters.
Run: python -m bench.unselected
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestServer

from cli.commands.demo import add_emulator_link
from emulators.harness import running_emulators
from store import Database, SecretBox, generate_key
from webhook.app import create_app
from webhook.keys import WAKER
from worker import metrics
from worker.context import EngineConfig
from worker.engine import build_engine
from worker.linkadmin import check_link
from worker.settings import Settings

USERS = 100
NOTIFICATIONS = 20
LAG_S = 2.0


def _total(counter: Any) -> float:
    return sum(
        sample.value
        for metric in counter.collect()
        for sample in metric.samples
        if sample.name.endswith("_total")
    )


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp)
        async with running_emulators(
            state / "emu",
            users=USERS,
            # The webhook listens on http://127.0.0.1: the emulator's explicit test switch.
            graph_options={"allow_http_loopback_notifications": True, "replication_lag_s": LAG_S},
        ) as emus:
            info = emus.info
            emus.graph.identity.grant_admin_consent(info["client_id"])
            db = await Database.open(state / "m365sync.db", SecretBox([generate_key().encode()]))
            settings = Settings(data_dir=state, database=state / "m365sync.db")
            app = create_app(settings, db=db)
            server = TestServer(app, host="127.0.0.1")
            await server.start_server()
            settings = Settings(
                data_dir=state,
                database=state / "m365sync.db",
                public_url=str(server.make_url("")).rstrip("/"),
            )
            policy = {"auto_create": True, "ranges": "1000-9999"}
            link = await add_emulator_link(db, info, name="bench", settings=policy)
            link = await check_link(db, link.id, settings)
            offset = [0.0]
            engine = build_engine(
                db,
                settings,
                waker=app[WAKER],
                config=EngineConfig(),
                clock=lambda: time.time() + offset[0],
            )
            graph = emus.graph

            async def work() -> None:
                """Work due events, then let the lag and the recheck delays pass."""
                await graph.delivery_idle()
                await engine.run_until_idle()
                for _ in range(10):
                    row = await db.fetchone(
                        "SELECT MIN(due_at) AS t FROM events WHERE status = 'pending'"
                    )
                    due_at = None if row is None else row["t"]
                    if due_at is None:
                        return
                    graph.advance_clock(LAG_S)
                    offset[0] += max(0.0, due_at - engine.ctx.clock())
                    await engine.run_until_idle()

            try:
                graph.advance_clock(LAG_S)
                await engine.run_until_idle(maintain=True)
                await work()
                synced = len(emus.pbx.state.extensions())
                rounds_before = int(_total(metrics.ROUNDS))
                graph_before = _total(metrics.GRAPH_REQUESTS)
                pbx_before = _total(metrics.PBX_REQUESTS)
                started = time.perf_counter()
                user_ids = graph.directory.active_ids()
                for n in range(NOTIFICATIONS):
                    user_id = user_ids[n % len(user_ids)]
                    if n % 2:
                        graph.directory.update_user(user_id, officeLocation=f"Room {n}")
                    else:
                        graph.directory.touch_user(user_id)  # e.g. a password change
                    await work()
                elapsed = time.perf_counter() - started
                rounds = int(_total(metrics.ROUNDS)) - rounds_before
                graph_requests = _total(metrics.GRAPH_REQUESTS) - graph_before
                pbx_requests = _total(metrics.PBX_REQUESTS) - pbx_before
            finally:
                await engine.shutdown()
                await server.close()
                await db.close()
    print(
        f"unselected-property notifications: {NOTIFICATIONS}, one at a time, {USERS} users "
        f"({synced} extensions), replication lag {LAG_S:.0f} s, rechecks "
        f"{len(EngineConfig().recheck_delays_s)}"
    )
    per = NOTIFICATIONS
    print(
        f"  per notification: {rounds / per:.1f} rounds, {graph_requests / per:.1f} Graph "
        f"requests, {pbx_requests / per:.1f} PBX requests ({elapsed / per * 1000:.0f} ms)"
    )


if __name__ == "__main__":
    asyncio.run(main())
