"""Notification acknowledgements per second and latency: the real webhook (check clientState,
commit the events to SQLite, answer 202) next to a bare aiohttp handler that only answers
202, each in its own process, under the same load.

Two loads: a fixed offered rate (open loop, latency percentiles), then as fast as 32
concurrent senders go (closed loop, throughput). Aim: >= 0.5 of the bare handler's
throughput and p99 < 50 ms. Run: python -m bench.webhook
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

from bench.stack import percentile

RATE_PER_S = 500
DURATION_S = 5.0
CONCURRENCY = 32
CLOSED_REQUESTS = 5000
SUBSCRIPTION_ID = "9a8b7c6d-5e4f-4a3b-2c1d-0e9f8a7b6c5d"
TENANT_ID = "7f3c2a10-5b1e-4c7d-9a2e-0d4b6c8e1f20"
CLIENT_STATE = "bench-client-state-0123456789"


def body(n: int) -> dict[str, object]:
    user_id = f"4b7a6c1e-2d3f-4a5b-8c9d-{n % 10**12:012d}"
    return {
        "value": [
            {
                "subscriptionId": SUBSCRIPTION_ID,
                "clientState": CLIENT_STATE,
                "changeType": "updated",
                "tenantId": TENANT_ID,
                "resource": f"Users/{user_id}",
                "resourceData": {"@odata.type": "#Microsoft.Graph.User", "id": user_id},
            }
        ]
    }


async def serve_ours(port: int, data_dir: Path) -> None:
    from aiohttp import web

    from cli.app import create_daemon_app
    from store import Database, SecretBox, generate_key
    from store.links import create_link
    from store.models import AuthMode, NewLink, Subscription
    from store.subscriptions import client_state_hash, put_subscription
    from worker.settings import Settings

    db = await Database.open(data_dir / "bench.db", SecretBox([generate_key().encode()]))
    link = await create_link(
        db, NewLink("bench", TENANT_ID, "c", AuthMode.APPLICATION, "http://pbx", "d", "a@d")
    )
    await put_subscription(
        db,
        Subscription(
            SUBSCRIPTION_ID, link.id, "users", client_state_hash(CLIENT_STATE), time.time() + 86400
        ),
    )
    runner = web.AppRunner(create_daemon_app(Settings(), db=db), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    await asyncio.Event().wait()


async def serve_bare(port: int) -> None:
    from aiohttp import web

    async def accept(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(status=202)

    app = web.Application()
    app.router.add_post("/graph/notifications", accept)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    await asyncio.Event().wait()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def wait_up(url: str) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(200):
            try:
                async with session.post(url, params={"validationToken": "x"}) as resp:
                    await resp.read()
                    return
            except aiohttp.ClientError:
                await asyncio.sleep(0.05)
    raise RuntimeError(f"{url} did not come up")


async def open_loop(url: str) -> tuple[float, list[float], int]:
    latencies: list[float] = []
    errors = 0
    connector = aiohttp.TCPConnector(limit=256)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one(n: int) -> None:
            nonlocal errors
            started = time.perf_counter()
            async with session.post(url, json=body(n)) as resp:
                await resp.read()
                if resp.status != 202:
                    errors += 1
            latencies.append(time.perf_counter() - started)

        tasks = []
        start = time.perf_counter()
        total = int(RATE_PER_S * DURATION_S)
        for n in range(total):
            delay = start + n / RATE_PER_S - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(n)))
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - start
    return total / elapsed, latencies, errors


async def closed_loop(url: str) -> float:
    counter = iter(range(CLOSED_REQUESTS))
    async with aiohttp.ClientSession() as session:

        async def sender() -> None:
            for n in counter:
                async with session.post(url, json=body(n)) as resp:
                    await resp.read()

        start = time.perf_counter()
        await asyncio.gather(*(sender() for _ in range(CONCURRENCY)))
        return CLOSED_REQUESTS / (time.perf_counter() - start)


async def measure(kind: str) -> tuple[float, list[float], int, float]:
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bench.webhook", "--serve", kind, str(port), tmp],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            url = f"http://127.0.0.1:{port}/graph/notifications"
            await wait_up(url)
            rate, latencies, errors = await open_loop(url)
            throughput = await closed_loop(url)
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    return rate, latencies, errors, throughput


async def main() -> None:
    print(
        f"webhook benchmark: open loop {RATE_PER_S}/s for {DURATION_S:.0f} s, "
        f"then closed loop {CLOSED_REQUESTS} requests x {CONCURRENCY} senders"
    )
    results = {kind: await measure(kind) for kind in ("bare", "ours")}
    for kind, (rate, lat, errors, throughput) in results.items():
        print(
            f"  {kind:<5} offered {rate:6.0f}/s  p50 {percentile(lat, 50) * 1000:6.1f} ms  "
            f"p99 {percentile(lat, 99) * 1000:6.1f} ms  non-202 {errors}  "
            f"max throughput {throughput:7.0f}/s"
        )
    ratio = results["ours"][3] / results["bare"][3]
    print(f"  ours / bare throughput: {ratio:.2f}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        kind, port, data = sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
        asyncio.run(serve_ours(port, data) if kind == "ours" else serve_bare(port))
    else:
        asyncio.run(main())
