"""A running fleet for engine tests: several tenants (one Graph emulator each) on one PBX,
a link per tenant checked and synced once, and the real engine working in the background."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path

from aiohttp.test_utils import TestServer

from cli.app import create_daemon_app
from cli.commands.demo import add_emulator_link
from emulators.fleet import fleet_domain, fleet_info, fleet_tenant, start_fleet_graph
from emulators.graph.server import GraphEmulator
from emulators.pbx import PbxEmulator, PbxEmulatorConfig
from emulators.tls import create_test_ca
from store import Database, SecretBox, generate_key
from store.models import Link
from webhook.keys import WAKER
from worker.context import EngineConfig
from worker.engine import Engine, build_engine
from worker.linkadmin import check_link
from worker.settings import Settings


@dataclass
class Fleet:
    graphs: list[GraphEmulator]
    pbx: PbxEmulator
    links: list[Link]
    engine: Engine
    db: Database


@contextlib.asynccontextmanager
async def running_fleet(
    tmp_path: Path, prefix: str, count: int, config: EngineConfig, *, push: bool = False
) -> AsyncIterator[Fleet]:
    """Links `<prefix>0` … on PBX domains `<prefix>N.pbx.example`. With `push`, the daemon's
    app serves the webhook and maintenance keeps every link's subscription with Graph."""
    async with contextlib.AsyncExitStack() as stack:
        ca = create_test_ca(tmp_path / "ca")
        domains = [fleet_domain(f"{prefix}{n}") for n in range(count)]
        pbx = PbxEmulator(PbxEmulatorConfig(domains=tuple(domains)))
        await pbx.start()
        stack.push_async_callback(pbx.stop)
        graphs: list[GraphEmulator] = []

        async def stop_graphs() -> None:
            for graph in graphs:
                await graph.stop()

        stack.push_async_callback(stop_graphs)
        db = await Database.open(tmp_path / "m365sync.db", SecretBox([generate_key().encode()]))
        stack.push_async_callback(db.close)
        settings = Settings(data_dir=tmp_path, database=tmp_path / "m365sync.db")
        app = create_daemon_app(settings, db=db)
        if push:
            server = TestServer(app, host="127.0.0.1")
            await server.start_server()
            stack.push_async_callback(server.close)
            settings = replace(settings, public_url=str(server.make_url("")).rstrip("/"))
        links = []
        for n, domain in enumerate(domains):
            tenant = fleet_tenant(n, f"{prefix}{n}")
            graph = await start_fleet_graph(tmp_path / "ca", tenant, ca, allow_http_loopback=push)
            graphs.append(graph)
            link = await add_emulator_link(
                db,
                fleet_info(graph, pbx, domain),
                name=f"{prefix}{n}",
                settings={"auto_create": True, "ranges": "200-299"},
            )
            link = await check_link(db, link.id, settings)
            assert link.state.value == "active", link.state_reason
            links.append(link)
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
