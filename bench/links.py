"""A service provider's many links in one daemon: 500 links x 200 users by default.

Every link has its own emulated Microsoft 365 tenant (one Graph emulator per tenant, all in
this process and sharing one test CA: Graph serves every tenant from one host and tells
them apart by the token's tenant, which one instance per tenant stands in for) and its own
domain on one emulated PBX (Vodia hosts many tenants, "domains", on one system). The real
daemon app serves the webhook on a real port and the real engine works a real SQLite file.

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
RSS is this process's, emulators included; their share is measured before the daemon
starts and printed apart. Goals: < 500 MB RSS, quiet-link p50 <= 0.5 s during the wave,
start-up < 10 s.

Run: python -m bench.links [LINKS [USERS [WAVE]]]
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import tempfile
import time
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp.test_utils import TestServer

from bench.stack import percentile
from cli.app import create_daemon_app
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
from store.sweeps import running_sweeps
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


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _tenant(n: int) -> EmulatedTenant:
    # One multi-tenant app registration (one client id), consented in every tenant.
    return EmulatedTenant(
        tenant_id=str(uuid.UUID(int=n + 1)),
        domain=f"t{n:03d}.example",
        initial_domain=f"t{n:03d}.onmicrosoft.com",
        admin_upn=f"admin@t{n:03d}.example",
    )


def _domain(n: int) -> str:
    return f"t{n:03d}.pbx.example"


def _user(tenant: EmulatedTenant, k: int) -> dict[str, Any]:
    mail = f"user{k:05d}@{tenant.domain}"
    return {
        "displayName": f"User {k}",
        "givenName": "User",
        "surname": f"N{k}",
        "mail": mail,
        "userPrincipalName": mail,
        "accountEnabled": True,
        "userType": "Member",
    }


async def _start_emulators(
    state: Path, links: int, users: int
) -> tuple[list[GraphEmulator], PbxEmulator]:
    ca = create_test_ca(state / "ca")
    pbx = PbxEmulator(PbxEmulatorConfig(domains=tuple(_domain(n) for n in range(links))))
    await pbx.start()
    graphs = []
    for n in range(links):
        tenant = _tenant(n)
        graph = GraphEmulator(
            GraphEmulatorConfig(
                state_dir=state / "ca",
                tenant=tenant,
                tls=ca,
                allow_http_loopback_notifications=True,
            )
        )
        await graph.start()
        graph.identity.grant_admin_consent(tenant.client_id)
        for k in range(users):
            props = _user(tenant, k)
            graph.directory.create_user(**props)
            # The extension the planner would make for this user: the sweep only binds.
            pbx.state.add_extension(
                str(1000 + k),
                domain=_domain(n),
                first_name=props["givenName"],
                last_name=props["surname"],
                email=props["mail"],
            )
        graphs.append(graph)
    return graphs, pbx


async def _add_links(
    db: Database, graphs: list[GraphEmulator], pbx: PbxEmulator, settings: Settings
) -> list[Link]:
    links = []
    for n, graph in enumerate(graphs):
        info = emulator_info(graph, pbx)
        info.update(pbx_domain=_domain(n), pbx_tenant_admin=pbx.config.tenant_admin(_domain(n)))
        link = await add_emulator_link(
            db, info, name=f"t{n:03d}", settings={"auto_create": True, "ranges": "1000-9999"}
        )
        links.append(await check_link(db, link.id, settings))
    return links


async def _wait_extension(pbx: PbxEmulator, domain: str, email: str, timeout_s: float) -> None:
    deadline = time.perf_counter() + timeout_s
    while time.perf_counter() < deadline:
        if any(a.settings.get("email_address") == email for a in pbx.state.extensions(domain)):
            return
        await asyncio.sleep(0.005)
    raise TimeoutError(f"no extension for {email} after {timeout_s} s")


async def _sample_sweeps(db: Database, done: asyncio.Event, seen: list[int]) -> None:
    while not done.is_set():
        seen.append(await running_sweeps(db))
        await asyncio.sleep(0.05)


async def _sweep_events_left(db: Database) -> int:
    row = await db.fetchone(
        "SELECT COUNT(*) AS n FROM events WHERE kind = 'sweep' AND status IN ('pending', 'claimed')"
    )
    return int(row["n"]) if row else 0


async def _acks_per_s(url: str, graphs: list[GraphEmulator]) -> tuple[float, int]:
    subs = [(g.context.subscriptions.all()[0], g.config.tenant) for g in graphs]
    bodies = []
    for i in range(ACKS):
        sub, tenant = subs[i % len(subs)]
        user_id = str(uuid.uuid4())
        bodies.append(
            {
                "value": [
                    {
                        "subscriptionId": sub.id,
                        "clientState": sub.client_state,
                        "changeType": "updated",
                        "resource": f"Users/{user_id}",
                        "resourceData": {"id": user_id},
                        "tenantId": tenant.tenant_id,
                    }
                ]
            }
        )
    statuses: dict[int, int] = {}
    queue = iter(bodies)
    async with aiohttp.ClientSession() as session:

        async def post_all() -> None:
            for body in queue:
                async with session.post(url, json=body) as response:
                    statuses[response.status] = statuses.get(response.status, 0) + 1

        started = time.perf_counter()
        await asyncio.gather(*(post_all() for _ in range(ACK_CONCURRENCY)))
        elapsed = time.perf_counter() - started
    return ACKS / elapsed, statuses.get(202, 0)


async def main(links: int, users: int, wave: int) -> None:
    configure_logging("console", level="warning")  # per-round lines would swamp the figures
    print(
        f"links benchmark: {links} links x {users} users, sweep wave of {wave}, slots {MAX_SWEEPS}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp)
        before = rss_mb()
        t0 = time.perf_counter()
        graphs, pbx = await _start_emulators(state, links, users)
        emu_rss = rss_mb() - before
        print(
            f"  emulators: {links} tenants up in {time.perf_counter() - t0:.1f} s, "
            f"+{emu_rss:.0f} MB"
        )
        try:
            await _run(state, graphs, pbx, links, users, wave, emu_rss)
        finally:
            for graph in graphs:
                await graph.stop()
            await pbx.stop()


async def _run(
    state: Path,
    graphs: list[GraphEmulator],
    pbx: PbxEmulator,
    n_links: int,
    users: int,
    wave: int,
    emu_rss: float,
) -> None:
    db_path = state / "m365sync.db"
    db = await Database.open(db_path, SecretBox([generate_key().encode()]))
    base = Settings(data_dir=state, database=db_path, max_concurrent_sweeps=MAX_SWEEPS)
    config = replace(EngineConfig.from_settings(base), poll_s=0.5)
    t0 = time.perf_counter()
    links = await _add_links(db, graphs, pbx, base)
    print(f"  links added and checked in {time.perf_counter() - t0:.1f} s")

    # 1. First sync: each link's first sweep, as a new daemon would run them.
    t0 = time.perf_counter()
    rss_before_sync = rss_mb()
    first = build_engine(db, base, config=config)
    await first.run_until_idle(maintain=True)
    await first.shutdown()
    bound = await db.fetchone("SELECT COUNT(*) AS n FROM bindings")
    print(
        f"  first sync: {n_links} sweeps in {time.perf_counter() - t0:.1f} s, "
        f"{bound['n'] if bound else 0} bindings, RSS +{rss_mb() - rss_before_sync:.0f} MB "
        "(both sides: the emulators' delta state and our heap)"
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
    subs = sum(len(g.context.subscriptions.all()) for g in graphs)
    print(f"  start-up: {startup_s:.2f} s to serving with {subs} subscriptions (goal < 10 s)")
    for graph in graphs:
        await graph.delivery_idle()
    stop = asyncio.Event()
    task = asyncio.create_task(engine.run(stop))
    try:
        await engine.run_until_idle()
        rest = rss_mb()
        print(
            f"  RSS at rest: {rest:.0f} MB in all, emulators ~{emu_rss:.0f} MB, "
            f"daemon ~{rest - emu_rss:.0f} MB (goal < 500 MB); the running app and engine "
            f"with {len(links)} links' clients open: +{rest - rss_before_daemon:.0f} MB"
        )
        await _wave(db, engine.ctx.clock, graphs, pbx, links, wave, emu_rss)
        scheduled = sum([await engine.scheduler.schedule_sweep(link) for link in links])
        print(f"  12 h per link: {scheduled} sweeps scheduled right after the wave (expect 0)")
        url = f"{settings.public_url}/graph/notifications"
        rate, accepted = await _acks_per_s(url, graphs)
        print(
            f"  webhook, engine working the rounds in the same process (serve): {rate:.0f} acks/s"
            f" over {len(links)} subscriptions ({accepted}/{ACKS} 202)"
        )
        stop.set()
        await task
        rate, accepted = await _acks_per_s(url, graphs)
        print(
            f"  webhook alone (the `web` process of a split deployment): {rate:.0f} acks/s "
            f"({accepted}/{ACKS} 202)"
        )
    finally:
        stop.set()
        with contextlib.suppress(Exception):
            await task
        await server.close()
        await db.close()


async def _wave(
    db: Database,
    clock: Any,
    graphs: list[GraphEmulator],
    pbx: PbxEmulator,
    links: list[Link],
    wave: int,
    emu_rss: float,
) -> None:
    sweeping = links[1 : wave + 1]
    await enqueue_events(db, [NewEvent(link.id, EventKind.SWEEP) for link in sweeping])
    done = asyncio.Event()
    seen: list[int] = []
    sampler = asyncio.create_task(_sample_sweeps(db, done, seen))
    peak = rss_mb()
    quiet = graphs[0]
    latencies = []
    t0 = time.perf_counter()
    for k in range(QUIET_USERS):
        props = _user(quiet.config.tenant, 90_000 + k)
        started = time.perf_counter()
        quiet.directory.create_user(**props)
        await _wait_extension(pbx, _domain(0), props["mail"], 30.0)
        latencies.append(time.perf_counter() - started)
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
    print(f"  RSS during the wave: peak {peak:.0f} MB, daemon ~{peak - emu_rss:.0f} MB")


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:4]]
    defaults = [500, 200, 50]
    n_links, n_users, n_wave = (args + defaults[len(args) :])[:3]
    asyncio.run(main(n_links, n_users, n_wave))
