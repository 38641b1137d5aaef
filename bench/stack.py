"""The whole product on loopback for benchmarks: both emulators, the real app on a real
port, a real SQLite file and the worker engine running as in `m365sync serve`."""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestServer

from cli.app import create_daemon_app
from cli.commands.demo import add_emulator_link
from emulators.harness import RunningEmulators, running_emulators
from store import Database, SecretBox, generate_key
from store.models import Link
from webhook.keys import WAKER
from worker.context import EngineConfig
from worker.engine import Engine, build_engine
from worker.linkadmin import check_link
from worker.settings import Settings


@dataclass
class BenchStack:
    emus: RunningEmulators
    db: Database
    link: Link
    engine: Engine
    server: TestServer


@contextlib.asynccontextmanager
async def running_stack(
    *, pbx_latency_s: float = 0.0, policy: dict[str, Any] | None = None
) -> AsyncIterator[BenchStack]:
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp)
        async with running_emulators(
            state / "emu",
            pbx_latency_s=pbx_latency_s,
            # The webhook listens on http://127.0.0.1: the emulator's explicit test switch.
            graph_options={"allow_http_loopback_notifications": True},
        ) as emus:
            info = emus.info
            emus.graph.identity.grant_admin_consent(info["client_id"])
            db = await Database.open(state / "m365sync.db", SecretBox([generate_key().encode()]))
            settings = Settings(data_dir=state, database=state / "m365sync.db")
            app = create_daemon_app(settings, db=db)
            server = TestServer(app, host="127.0.0.1")
            await server.start_server()
            settings = replace(settings, public_url=str(server.make_url("")).rstrip("/"))
            link = await add_emulator_link(
                db,
                info,
                name="bench",
                settings=policy or {"auto_create": True, "ranges": "1000-9999"},
            )
            link = await check_link(db, link.id, settings)
            engine = build_engine(db, settings, waker=app[WAKER], config=EngineConfig(poll_s=1.0))
            await engine.run_until_idle(maintain=True)
            await emus.graph.delivery_idle()
            await engine.run_until_idle()
            stop = asyncio.Event()
            task = asyncio.create_task(engine.run(stop))
            try:
                yield BenchStack(emus, db, link, engine, server)
            finally:
                stop.set()
                await task
                await server.close()
                await db.close()


def user(n: int, prefix: str = "bench") -> dict[str, Any]:
    return {
        "displayName": f"Bench User {n}",
        "givenName": "Bench",
        "surname": f"User {n}",
        "mail": f"{prefix}{n:05d}@contoso.example",
        "userPrincipalName": f"{prefix}{n:05d}@contoso.example",
        "businessPhones": ["+1 425 555 0100"],
        "accountEnabled": True,
        "userType": "Member",
    }


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]
