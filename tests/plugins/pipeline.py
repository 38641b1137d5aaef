"""The whole product on loopback: both emulators, the real app on a real port, a real
SQLite file, and a worker engine drained with run_until_idle()."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from cli.app import create_daemon_app
from cli.commands.demo import add_emulator_link
from emulators.harness import RunningEmulators, running_emulators
from store import Database, SecretBox, generate_key, open_database
from store.models import Link
from tests.plugins.postgres import new_database
from webhook.keys import WAKER
from worker.alerts import Alerts
from worker.context import EngineConfig
from worker.engine import Engine, build_engine
from worker.linkadmin import check_link
from worker.linkctx import LinkClients
from worker.settings import Settings

DEFAULT_POLICY = {"auto_create": True, "ranges": "200-299", "phone_region": "US"}
# Graph notifies before its delta shows the change (replication lag): end-to-end tests run
# with some, in emulated seconds, and `drain` lets that time pass instead of sleeping.
DEFAULT_REPLICATION_LAG_S = 2.0
_MAX_LAG_PASSES = 8


class ShiftedClock:
    """Wall time plus an offset that tests move forward."""

    def __init__(self) -> None:
        self.offset_s = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset_s


@dataclass
class Stack:
    emus: RunningEmulators
    db: Database
    settings: Settings
    link: Link
    engine: Engine
    server: TestServer
    secret_key: str = ""
    db_path: Path = Path()
    lag_s: float = 0.0  # the replication lag the stack was made with

    @property
    def directory(self) -> Any:
        return self.emus.graph.directory

    @property
    def pbx_state(self) -> Any:
        return self.emus.pbx.state

    def shift_clock(self, seconds: float) -> None:
        """Move the engine's clock forward by `seconds` (the emulators keep their own)."""
        assert isinstance(self.engine.ctx.clock, ShiftedClock)
        self.engine.ctx.clock.offset_s += seconds

    async def drain(self) -> None:
        """Wait until Graph delivered every notification, then work every due event, and
        the rechecks the replication lag made (emulated time passes for them)."""
        await self.emus.graph.delivery_idle()
        await self.work()

    async def work(self) -> None:
        """Work every due event, then the rechecks the replication lag made."""
        await self.engine.run_until_idle()
        await self.pass_replication_lag()

    async def pass_replication_lag(self) -> None:
        """Run the rechecks (and gap follow-ups) waiting for changes the delta did not show
        yet: Graph's clock
        moves past the stack's lag and the engine's to each recheck's due time. (A test
        that sets another lag on the directory drives the time itself.)"""
        lag_s = self.lag_s
        for _ in range(_MAX_LAG_PASSES):
            row = await self.db.fetchone(
                "SELECT MIN(due_at) AS t FROM events WHERE link_id = ? AND status = 'pending'"
                " AND (kind = 'recheck' OR (kind = 'resync' AND payload LIKE '%followup%'))",
                (self.link.id,),
            )
            due_at = None if row is None else row["t"]
            if due_at is None or lag_s <= 0:
                return
            self.emus.graph.advance_clock(lag_s)
            wait_s = due_at - self.engine.ctx.clock()
            if wait_s > 0:
                self.shift_clock(wait_s)
            await self.engine.run_until_idle()

    async def settle(self) -> None:
        """Maintenance (subscription, sweep scheduling) and then drain. What the test did
        before is older than the replication lag by then, so sweeps and catch-up rounds
        see it."""
        if self.lag_s > 0:
            self.emus.graph.advance_clock(self.lag_s)
        await self.engine.run_until_idle(maintain=True)
        await self.drain()


MakeStack = Callable[..., Awaitable[Stack]]


def graph_user(
    given: str, surname: str = "Example", *, email: str | None = None, **overrides: Any
) -> dict[str, Any]:
    """A member for the Graph emulator's directory; mail and UPN are `given.surname@…`."""
    address = email or f"{given}.{surname}".lower().replace(" ", "") + "@contoso.example"
    user: dict[str, Any] = {
        "displayName": f"{given} {surname}",
        "givenName": given,
        "surname": surname,
        "mail": address,
        "userPrincipalName": address,
        "accountEnabled": True,
        "userType": "Member",
    }
    user.update(overrides)
    return user


@pytest.fixture
async def make_stack(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[MakeStack]:
    cleanups: list[Callable[[], Awaitable[None]]] = []

    async def make(
        *,
        users: int = 0,
        extensions: int = 0,
        policy: dict[str, Any] | None = None,
        subscribe: bool = True,
        engine_config: EngineConfig | None = None,
        pbx_latency_s: float = 0.0,
        graph_options: dict[str, Any] | None = None,
        tenant_id: str | None = None,
        clients_factory: Callable[..., Awaitable[LinkClients]] | None = None,
        alerts: Callable[[Database], Alerts] | None = None,
        backend: str = "sqlite",
        public_url: str | None = None,
    ) -> Stack:
        manager = running_emulators(
            tmp_path / "emulators",
            users=users,
            extensions=extensions,
            pbx_latency_s=pbx_latency_s,
            # The webhook listens on http://127.0.0.1: the emulator's explicit test switch.
            graph_options={
                "allow_http_loopback_notifications": True,
                "replication_lag_s": DEFAULT_REPLICATION_LAG_S,
                **(graph_options or {}),
            },
        )
        emus = await manager.__aenter__()
        cleanups.append(lambda: manager.__aexit__(None, None, None))
        emus.graph.identity.grant_admin_consent(emus.info["client_id"])
        secret_key = generate_key()
        # backend="postgresql": a fresh database on the session's PostgreSQL server.
        url = None
        if backend == "postgresql":
            url = await new_database(request.getfixturevalue("pg_server"))
        db = await open_database(url or tmp_path / "m365sync.db", SecretBox([secret_key.encode()]))
        cleanups.append(db.close)
        settings = Settings(data_dir=tmp_path, database=tmp_path / "m365sync.db", database_url=url)
        app = create_daemon_app(settings, db=db)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        cleanups.append(server.close)
        if subscribe:
            # public_url: where Graph posts instead of this app (a load balancer, say).
            own = str(server.make_url("")).rstrip("/")
            settings = replace(settings, public_url=public_url or own)
        # The link may name the tenant by domain, as an admin may type it.
        info = {**emus.info, "tenant_id": tenant_id or emus.info["tenant_id"]}
        link = await add_emulator_link(
            db, info, name="contoso", settings={**DEFAULT_POLICY, **(policy or {})}
        )
        link = await check_link(db, link.id, settings)
        assert link.state.value == "active", link.state_reason
        engine = build_engine(
            db,
            settings,
            waker=app[WAKER],
            config=engine_config or EngineConfig(recheck_delays_s=(0.2, 0.5)),
            clients_factory=clients_factory,
            alerts=alerts(db) if alerts else None,
            clock=ShiftedClock(),
        )
        cleanups.append(engine.shutdown)
        return Stack(
            emus,
            db,
            settings,
            link,
            engine,
            server,
            secret_key,
            tmp_path / "m365sync.db",
            lag_s=emus.graph.directory.replication_lag_s,
        )

    yield make
    for cleanup in reversed(cleanups):
        await cleanup()
