"""/healthz and /readyz through the real app: the store must take a write, and an
in-process worker loop must be going round."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from store import Database
from webhook import health
from webhook.app import create_app
from webhook.keys import ENGINE, ENGINE_TASK
from worker.engine import build_engine
from worker.settings import Settings

Client = TestClient[Any, Any]


async def _ready(client: Client) -> tuple[int, dict[str, Any]]:
    response = await client.get("/readyz")
    return response.status, await response.json()


async def test_healthz_answers_while_the_process_lives(aiohttp_client: Any, db: Database) -> None:
    """/healthz is 200 with no checks at all."""
    client = await aiohttp_client(create_app(Settings(), db=db))
    response = await client.get("/healthz")
    assert response.status == 200
    assert await response.json() == {"status": "ok"}


async def test_readyz_writes_to_the_store(aiohttp_client: Any, db: Database) -> None:
    """Without an in-process worker, ready means the store committed a probe write."""
    client = await aiohttp_client(create_app(Settings(), db=db))
    status, body = await _ready(client)
    assert status == 200
    assert body["checks"] == {"store": {"ok": True, "detail": "writable"}}
    row = await db.fetchone("SELECT value FROM meta WHERE key = 'ready_probe'")
    assert row is not None


async def test_readyz_fails_when_the_store_takes_no_write(
    aiohttp_client: Any, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write transaction held past the probe timeout makes the daemon not ready."""
    monkeypatch.setattr(health, "STORE_PROBE_TIMEOUT_S", 0.05)
    client = await aiohttp_client(create_app(Settings(), db=db))
    async with db.atomic():
        status, body = await _ready(client)
    assert status == 503
    assert body["status"] == "unavailable"
    assert body["checks"]["store"]["ok"] is False
    assert (await _ready(client))[0] == 200


async def test_readyz_sees_the_in_process_worker(aiohttp_client: Any, db: Database) -> None:
    """`serve` (run_worker) keeps its engine on the app; /readyz reports its loop."""
    app = create_app(Settings(), db=db, run_worker=True)
    client = await aiohttp_client(app)
    status, body = await _ready(client)
    assert status == 200, body
    assert body["checks"]["worker"]["ok"] is True
    assert app[ENGINE].last_loop_at > 0


class FrozenClock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


async def test_readyz_fails_when_the_worker_loop_stalls_or_stops(
    aiohttp_client: Any, db: Database
) -> None:
    """A loop stuck in maintenance for longer than the stall limit, then a loop that has
    ended, both make the daemon not ready."""
    clock = FrozenClock()
    engine = build_engine(db, Settings(), clock=clock)
    stuck = asyncio.Event()
    release = asyncio.Event()

    async def hanging_maintenance() -> None:
        stuck.set()
        await release.wait()

    engine.scheduler.maintain = hanging_maintenance  # type: ignore[method-assign]
    stop = asyncio.Event()
    app = create_app(Settings(), db=db)
    app[ENGINE] = engine
    app[ENGINE_TASK] = task = asyncio.create_task(engine.run(stop))
    client = await aiohttp_client(app)
    await stuck.wait()
    assert (await _ready(client))[0] == 200

    clock.now += health.WORKER_STALL_S + 1
    status, body = await _ready(client)
    assert status == 503
    assert "stalled" in body["checks"]["worker"]["detail"]

    stop.set()
    release.set()
    await task
    status, body = await _ready(client)
    assert status == 503
    assert body["checks"]["worker"]["detail"] == "the worker loop has stopped"


async def test_metrics_wants_the_bearer_token_when_one_is_set(
    aiohttp_client: Any, db: Database
) -> None:
    """M365SYNC_METRICS_TOKEN: 401 with a WWW-Authenticate challenge without it or with a
    wrong one (also one that only shares a prefix), 200 with it."""
    token = "metrics-token-0123456789"
    client = await aiohttp_client(create_app(Settings(metrics_token=token), db=db))
    for headers in (
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": f"Bearer {token[:-1]}"},
        {"Authorization": f"Basic {token}"},
        {"Authorization": token},
    ):
        response = await client.get("/metrics", headers=headers)
        assert response.status == 401, headers
        assert response.headers["WWW-Authenticate"].startswith("Bearer ")
        assert token not in await response.text()
    response = await client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert response.status == 200
    assert "m365sync_" in await response.text()
    assert (await client.get("/healthz")).status == 200, "only /metrics wants the token"


async def test_metrics_is_open_without_a_token(aiohttp_client: Any, db: Database) -> None:
    client = await aiohttp_client(create_app(Settings(), db=db))
    assert (await client.get("/metrics")).status == 200
