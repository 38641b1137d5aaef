"""The emulated side of bench/links.py, in a process of its own so the benchmark reads the
daemon's RSS alone: one Graph emulator per tenant, one PBX with a domain per tenant, and a
small plain-HTTP control API on loopback for what the benchmark asks of them.

Run by bench/links.py as `python -m bench.links_emulators STATE LINKS USERS`; prints one
JSON line ({"control": URL, "rss_mb": N, "up_s": S}) when ready and stops when stdin closes.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from aiohttp import web

from emulators.fleet import fleet_domain, fleet_info, fleet_tenant, fleet_user, start_fleet_graph
from emulators.graph.server import GraphEmulator
from emulators.pbx import PbxEmulator, PbxEmulatorConfig
from emulators.tls import create_test_ca


def rss_mb(pid: int | str = "self") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def label_of(n: int) -> str:
    return f"t{n:03d}"


def domain_of(n: int) -> str:
    return fleet_domain(label_of(n))


async def start_emulators(
    state: Path, links: int, users: int
) -> tuple[list[GraphEmulator], PbxEmulator]:
    ca = create_test_ca(state / "ca")
    pbx = PbxEmulator(PbxEmulatorConfig(domains=tuple(domain_of(n) for n in range(links))))
    await pbx.start()
    graphs = []
    for n in range(links):
        tenant = fleet_tenant(n, label_of(n))
        graph = await start_fleet_graph(state / "ca", tenant, ca, allow_http_loopback=True)
        for k in range(users):
            props = fleet_user(tenant, k)
            graph.directory.create_user(**props)
            # The extension the planner would make for this user: the sweep only binds.
            pbx.state.add_extension(
                str(1000 + k),
                domain=domain_of(n),
                first_name=props["givenName"],
                last_name=props["surname"],
                email=props["mail"],
            )
        graphs.append(graph)
    return graphs, pbx


def subscription_counts(graphs: list[GraphEmulator]) -> dict[str, Any]:
    """How many subscriptions Graph holds, each tenant's first, and the tenants that do not
    hold exactly one."""
    first = []
    total = 0
    other = {}
    holders = {}  # subscription id -> the tenant number holding it
    for n, graph in enumerate(graphs):
        subs = graph.context.subscriptions.all()
        total += len(subs)
        holders.update({sub.id: n for sub in subs})
        if len(subs) != 1:
            other[n] = len(subs)
        if subs:
            first.append(
                {
                    "id": subs[0].id,
                    "client_state": subs[0].client_state,
                    "tenant_id": graph.config.tenant.tenant_id,
                }
            )
    return {"total": total, "first": first, "other": other, "holders": holders}


def control_app(graphs: list[GraphEmulator], pbx: PbxEmulator) -> web.Application:
    """Bench-only control API: trusted input from the benchmark on loopback."""

    async def infos(_: web.Request) -> web.Response:
        return web.json_response(
            [fleet_info(graph, pbx, domain_of(n)) for n, graph in enumerate(graphs)]
        )

    async def subscriptions(_: web.Request) -> web.Response:
        return web.json_response(subscription_counts(graphs))

    async def delivery_idle(_: web.Request) -> web.Response:
        for graph in graphs:
            await graph.delivery_idle()
        return web.json_response({})

    async def create_user(request: web.Request) -> web.Response:
        # Creates a user in tenant `link` and answers once the PBX has its extension:
        # the time between the two is the notification -> extension latency.
        body = await request.json()
        n, k = int(body["link"]), int(body["k"])
        props = fleet_user(graphs[n].config.tenant, k)
        started = time.perf_counter()
        graphs[n].directory.create_user(**props)
        deadline = started + float(body.get("timeout_s", 30.0))
        while time.perf_counter() < deadline:
            if any(
                a.settings.get("email_address") == props["mail"]
                for a in pbx.state.extensions(domain_of(n))
            ):
                return web.json_response({"elapsed_s": time.perf_counter() - started})
            await asyncio.sleep(0.005)
        return web.json_response({"error": "no extension"}, status=504)

    async def rss(_: web.Request) -> web.Response:
        return web.json_response({"rss_mb": rss_mb()})

    app = web.Application()
    app.router.add_get("/infos", infos)
    app.router.add_get("/subscriptions", subscriptions)
    app.router.add_post("/delivery-idle", delivery_idle)
    app.router.add_post("/users", create_user)
    app.router.add_get("/rss", rss)
    return app


async def main(state: Path, links: int, users: int) -> None:
    started = time.perf_counter()
    graphs, pbx = await start_emulators(state, links, users)
    runner = web.AppRunner(control_app(graphs, pbx), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    ready = {
        "control": f"http://127.0.0.1:{port}",
        "rss_mb": rss_mb(),
        "up_s": time.perf_counter() - started,
    }
    print(json.dumps(ready), flush=True)
    # The benchmark reads one line only: anything the emulators print later goes to stderr,
    # not into a pipe nobody empties.
    os.dup2(2, 1)
    # Stop when the benchmark closes our stdin (or exits).
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await runner.cleanup()
    for graph in graphs:
        await graph.stop()
    await pbx.stop()


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])))
