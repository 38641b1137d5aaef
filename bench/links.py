"""A service provider's many links in one daemon: 500 links x 200 users by default.

Every link has its own emulated Microsoft 365 tenant (one Graph emulator per tenant, all in
a child process, bench/links_emulators.py, and sharing one test CA: Graph serves every
tenant from one host and tells them apart by the token's tenant, which one instance per
tenant stands in for) and its own domain on one emulated PBX (Vodia hosts many tenants,
"domains", on one system). The real daemon app serves the webhook on a real port and the
real engine works a real SQLite file.

Phases and figures:
  1. first sync: every link checked and swept once (users and extensions are seeded to
     match, so the sweep binds and writes nothing to the PBX);
  2. start-up: a fresh app and engine over the 500 synced links, up to its first
     maintenance done (subscriptions, sweep and poll scheduling for every link);
  3. RSS at rest; a sweep wave of 50 links (running sweeps sampled: never above the slots),
     while one quiet link gets users created one at a time: notification -> extension
     p50/p99; RSS during the wave;
  4. the 12 hours per link: a maintenance right after the wave schedules no sweep;
  5. webhook acks/s: notifications POSTed for the 500 real subscriptions.
The links trust the test CA in a bundle with the public roots (the size of a system
store), so that TLS contexts cost here what they cost in production. RSS is the
daemon's alone (this process: app, engine, database and the bench's HTTP client); the
emulators' process is measured apart. Goals: < 500 MB RSS, quiet-link p50 <= 0.5 s
during the wave, start-up < 10 s.

Run: python -m bench.links [LINKS [USERS [WAVE]]] [--delegated]
(--delegated: every link signed in with "OAuth Token", MSAL's tokens, instead of the
application's client credentials.)
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import ssl
import sys
import tempfile
import time
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import certifi
from aiohttp.test_utils import TestServer

from bench.links_emulators import rss_mb
from bench.stack import percentile
from cli.app import create_daemon_app
from cli.commands.demo import add_emulator_link
from store import Database, SecretBox, generate_key
from store.events import enqueue_events
from store.models import AuthMode, EventKind, Link, NewEvent
from store.sweeps import running_sweeps
from tests.signin import oauth_token
from webhook.keys import WAKER
from worker.context import EngineConfig
from worker.engine import build_engine
from worker.linkadmin import check_link
from worker.logs import configure_logging
from worker.settings import Settings

MAX_SWEEPS = 4
QUIET_USERS = 20
ACKS = 2000
ACK_CONCURRENCY = 32


class Emulators:
    """The emulators' child process (bench/links_emulators.py) and its control API."""

    def __init__(self, process: asyncio.subprocess.Process, control: str, rss_mb: float) -> None:
        self.process = process
        self.control = control
        self.rss_mb = rss_mb
        self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120))

    @classmethod
    async def start(cls, state: Path, links: int, users: int) -> tuple[Emulators, float]:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.links_emulators", str(state), str(links), str(users),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert process.stdout is not None
        line = await process.stdout.readline()
        if not line:
            raise RuntimeError("the emulators exited before they were ready")
        ready = json.loads(line)
        return cls(process, ready["control"], ready["rss_mb"]), float(ready["up_s"])

    async def get(self, path: str) -> Any:
        async with self.session.get(self.control + path) as response:
            response.raise_for_status()
            return await response.json()

    async def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        async with self.session.post(self.control + path, json=body or {}) as response:
            response.raise_for_status()
            return await response.json()

    async def stop(self) -> None:
        await self.session.close()
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            await asyncio.wait_for(self.process.wait(), 30)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()


async def _add_links(
    db: Database, emulators: Emulators, settings: Settings, mode: AuthMode
) -> list[Link]:
    links = []
    infos = await emulators.get("/infos")
    trust = _production_sized_trust(Path(infos[0]["ca_path"]), settings.data_dir)
    for n, info in enumerate(infos):
        info = {**info, "ca_path": str(trust)}
        link = await add_emulator_link(
            db,
            info,
            name=f"t{n:03d}",
            settings={"auto_create": True, "ranges": "1000-9999"},
            auth_mode=mode,
        )
        if mode is AuthMode.DELEGATED:
            context = ssl.create_default_context(cafile=info["ca_path"])
            await oauth_token(db, link, settings, info["client_secret"], context)
        links.append(await check_link(db, link.id, settings))
    return links


def _production_sized_trust(test_ca: Path, state: Path) -> Path:
    """The emulators' test CA and the public roots, in one bundle: a TLS context costs
    what its roots cost (~1 MB for certifi's ~140, as for a system store), and a bundle of
    one test CA would hide every context made per link or per connection."""
    bundle = state / "trust.pem"
    bundle.write_text(test_ca.read_text() + Path(certifi.where()).read_text())
    return bundle


async def _sample_sweeps(db: Database, done: asyncio.Event, seen: list[int]) -> None:
    while not done.is_set():
        seen.append(await running_sweeps(db))
        await asyncio.sleep(0.05)


async def _why_unsubscribed(db: Database, other: dict[str, int], holders: dict[str, int]) -> None:
    for n, held in other.items():
        rows = await db.fetchall(
            "SELECT l.state, s.id, s.expires_at, s.created_at FROM links l LEFT JOIN "
            "subscriptions s ON s.link_id = l.id WHERE l.name = ?",
            (f"t{int(n):03d}",),
        )
        for row in rows:
            print(
                f"    tenant {n}: {held} subscriptions in Graph; the link's: {dict(row)}, "
                f"held by tenant {holders.get(row['id'])}"
            )


async def _sweep_events_left(db: Database) -> int:
    row = await db.fetchone(
        "SELECT COUNT(*) AS n FROM events WHERE kind = 'sweep' AND status IN ('pending', 'claimed')"
    )
    return int(row["n"]) if row else 0


async def _acks_per_s(url: str, emulators: Emulators) -> tuple[float, int, list[float]]:
    subs = (await emulators.get("/subscriptions"))["first"]
    bodies = []
    for i in range(ACKS):
        sub = subs[i % len(subs)]
        user_id = str(uuid.uuid4())
        bodies.append(
            {
                "value": [
                    {
                        "subscriptionId": sub["id"],
                        "clientState": sub["client_state"],
                        "changeType": "updated",
                        "resource": f"Users/{user_id}",
                        "resourceData": {"id": user_id},
                        "tenantId": sub["tenant_id"],
                    }
                ]
            }
        )
    statuses: dict[int, int] = {}
    latencies: list[float] = []
    queue = iter(bodies)
    async with aiohttp.ClientSession() as session:

        async def post_all() -> None:
            for body in queue:
                sent = time.perf_counter()
                async with session.post(url, json=body) as response:
                    statuses[response.status] = statuses.get(response.status, 0) + 1
                latencies.append(time.perf_counter() - sent)

        started = time.perf_counter()
        await asyncio.gather(*(post_all() for _ in range(ACK_CONCURRENCY)))
        elapsed = time.perf_counter() - started
    return ACKS / elapsed, statuses.get(202, 0), latencies


async def main(links: int, users: int, wave: int, mode: AuthMode) -> None:
    configure_logging("console", level="warning")  # per-round lines would swamp the figures
    print(
        f"links benchmark: {links} links x {users} users, sweep wave of {wave}, slots "
        f"{MAX_SWEEPS}, {mode.value} mode"
    )
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp)
        emulators, up_s = await Emulators.start(state, links, users)
        print(
            f"  emulators (own process): {links} tenants up in {up_s:.1f} s, "
            f"RSS {emulators.rss_mb:.0f} MB"
        )
        try:
            await _run(state, emulators, links, wave, mode)
        finally:
            await emulators.stop()


async def _run(state: Path, emulators: Emulators, n_links: int, wave: int, mode: AuthMode) -> None:
    print(f"  daemon process (this one) before the database: RSS {rss_mb():.0f} MB")
    db_path = state / "m365sync.db"
    db = await Database.open(db_path, SecretBox([generate_key().encode()]))
    try:  # aiosqlite's thread would keep a failed run's process alive
        await _measure(db, state, emulators, n_links, wave, mode)
    finally:
        await db.close()


async def _measure(
    db: Database, state: Path, emulators: Emulators, n_links: int, wave: int, mode: AuthMode
) -> None:
    db_path = state / "m365sync.db"
    base = Settings(data_dir=state, database=db_path, max_concurrent_sweeps=MAX_SWEEPS)
    config = replace(EngineConfig.from_settings(base), poll_s=0.5)
    t0 = time.perf_counter()
    links = await _add_links(db, emulators, base, mode)
    print(f"  links added and checked in {time.perf_counter() - t0:.1f} s")

    # 1. First sync: each link's first sweep, as a new daemon would run them.
    t0 = time.perf_counter()
    first = build_engine(db, base, config=config)
    await first.run_until_idle(maintain=True)
    await first.shutdown()
    # That engine stands for the daemon before a restart: its caches are not the new one's.
    del first
    gc.collect()
    bound = await db.fetchone("SELECT COUNT(*) AS n FROM bindings")
    print(
        f"  first sync: {n_links} sweeps in {time.perf_counter() - t0:.1f} s, "
        f"{bound['n'] if bound else 0} bindings, daemon RSS {rss_mb():.0f} MB"
    )

    # 2. Start-up over the synced links: app, engine, first maintenance (subscriptions).
    rss_before_daemon = rss_mb()
    t0 = time.perf_counter()
    app = create_daemon_app(base, db=db)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    settings = replace(base, public_url=str(server.make_url("")).rstrip("/"))
    engine = build_engine(db, settings, waker=app[WAKER], config=config)
    await engine.scheduler.maintain()
    startup_s = time.perf_counter() - t0
    held = await emulators.get("/subscriptions")
    subs = held["total"]
    print(f"  start-up: {startup_s:.2f} s to serving with {subs} subscriptions (goal < 10 s)")
    if held["other"]:
        await _why_unsubscribed(db, held["other"], held["holders"])
    await emulators.post("/delivery-idle")
    stop = asyncio.Event()
    task = asyncio.create_task(engine.run(stop))
    try:
        await engine.run_until_idle()
        rest = rss_mb()
        print(
            f"  daemon RSS at rest: {rest:.0f} MB (goal < 500 MB); the running app and engine "
            f"with {len(links)} links' clients: +{rest - rss_before_daemon:.0f} MB"
        )
        # What the engine's loop does once the links have been idle for clients_idle_s.
        await engine.release_idle(idle_s=0.0, trim_now=True)
        gc.collect()
        print(
            f"  daemon RSS at rest once the links are idle ({config.clients_idle_s:.0f} s after "
            f"their last round: clients closed, cached directories forgotten, heap trimmed): "
            f"{rss_mb():.0f} MB (goal < 500 MB)"
        )
        await _wave(db, emulators, links, wave)
        scheduled = sum([await engine.scheduler.schedule_sweep(link) for link in links])
        print(f"  12 h per link: {scheduled} sweeps scheduled right after the wave (expect 0)")
        url = f"{settings.public_url}/graph/notifications"
        rate, accepted, acked = await _acks_per_s(url, emulators)
        print(
            f"  webhook, engine working the rounds in the same process (serve): {rate:.0f} acks/s"
            f" over {len(links)} subscriptions ({accepted}/{ACKS} 202), ack p50 "
            f"{percentile(acked, 50) * 1000:.0f} ms, p99 {percentile(acked, 99) * 1000:.0f} ms "
            f"({ACK_CONCURRENCY} at once; Graph allows 3 s)"
        )
        stop.set()
        await task
        rate, accepted, acked = await _acks_per_s(url, emulators)
        print(
            f"  webhook alone (the `web` process of a split deployment): {rate:.0f} acks/s "
            f"({accepted}/{ACKS} 202), ack p50 {percentile(acked, 50) * 1000:.0f} ms, "
            f"p99 {percentile(acked, 99) * 1000:.0f} ms"
        )
    finally:
        stop.set()
        with contextlib.suppress(Exception):
            await task
        await server.close()


async def _wave(db: Database, emulators: Emulators, links: list[Link], wave: int) -> None:
    sweeping = links[1 : wave + 1]
    await enqueue_events(db, [NewEvent(link.id, EventKind.SWEEP) for link in sweeping])
    done = asyncio.Event()
    seen: list[int] = []
    sampler = asyncio.create_task(_sample_sweeps(db, done, seen))
    peak = rss_mb()
    latencies = []
    t0 = time.perf_counter()
    for k in range(QUIET_USERS):
        # Link 0 is the quiet one; the emulators time user created -> extension on the PBX.
        answer = await emulators.post("/users", {"link": 0, "k": 90_000 + k, "timeout_s": 30.0})
        latencies.append(float(answer["elapsed_s"]))
        peak = max(peak, rss_mb())
    during = await _sweep_events_left(db)
    while await _sweep_events_left(db):
        peak = max(peak, rss_mb())
        await asyncio.sleep(0.1)
    wave_s = time.perf_counter() - t0
    done.set()
    await sampler
    print(
        f"  sweep wave: {len(sweeping)} sweeps in {wave_s:.1f} s, at most {max(seen)} at once "
        f"(slots {MAX_SWEEPS}); {during} still queued after the quiet link's {QUIET_USERS} users"
    )
    print(
        f"  quiet link during the wave: notification -> extension p50 "
        f"{percentile(latencies, 50) * 1000:.0f} ms, p99 {percentile(latencies, 99) * 1000:.0f} ms "
        f"(goal p50 <= 500 ms)"
    )
    print(f"  daemon RSS during the wave: peak {peak:.0f} MB (goal < 500 MB)")


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:] if not a.startswith("--")]
    defaults = [500, 200, 50]
    n_links, n_users, n_wave = (args + defaults[len(args) :])[:3]
    auth = AuthMode.DELEGATED if "--delegated" in sys.argv else AuthMode.APPLICATION
    asyncio.run(main(n_links, n_users, n_wave, auth))
