"""Graph emulator figures: seeding, GET /users throughput, full listing and delta rounds.

    .venv/bin/python -m bench.emulators [--users N] [--seconds S] [--concurrency C]

Everything goes through the real HTTPS server with an aiohttp client and an app token
from the emulator's identity platform (the JWT is verified once, then cached).
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import tempfile
import time
from pathlib import Path

import aiohttp

from emulators.graph.server import GraphEmulator, GraphEmulatorConfig


async def app_token(emulator: GraphEmulator, session: aiohttp.ClientSession) -> str:
    tenant = emulator.config.tenant
    form = {
        "grant_type": "client_credentials",
        "client_id": tenant.client_id,
        "client_secret": tenant.client_secret,
        "scope": "https://graph.microsoft.com/.default",
    }
    async with session.post(f"{emulator.authority}/oauth2/v2.0/token", data=form) as response:
        response.raise_for_status()
        return str((await response.json())["access_token"])


async def requests_per_second(
    session: aiohttp.ClientSession, url: str, seconds: float, concurrency: int
) -> float:
    deadline = time.perf_counter() + seconds
    done = 0

    async def client() -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            async with session.get(url) as response:
                await response.read()
                assert response.status == 200, response.status
            done += 1

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    return done / (time.perf_counter() - started)


async def follow(
    session: aiohttp.ClientSession, url: str, **headers: str
) -> tuple[int, int, float]:
    """Page to the end: (items, pages, seconds)."""
    started = time.perf_counter()
    items = pages = 0
    next_url: str | None = url
    while next_url:
        async with session.get(next_url, headers=headers) as response:
            body = await response.json()
        pages += 1
        items += len(body["value"])
        next_url = body.get("@odata.nextLink")
    return items, pages, time.perf_counter() - started


async def delta_round(session: aiohttp.ClientSession, url: str) -> tuple[int, int, float, str]:
    """A delta round to its deltaLink: (items, pages, seconds, deltaLink)."""
    started = time.perf_counter()
    items = pages = 0
    while True:
        async with session.get(url) as response:
            body = await response.json()
        pages += 1
        items += len(body["value"])
        if "@odata.deltaLink" in body:
            return items, pages, time.perf_counter() - started, str(body["@odata.deltaLink"])
        url = body["@odata.nextLink"]


async def run(users: int, seconds: float, concurrency: int) -> None:
    with tempfile.TemporaryDirectory() as state_dir:
        emulator = GraphEmulator(GraphEmulatorConfig(state_dir=Path(state_dir)))
        started = time.perf_counter()
        emulator.directory.seed(users, seed=1)
        seed_s = time.perf_counter() - started
        print(f"seeded {users} users in {seed_s:.2f} s ({users / seed_s:,.0f} users/s)")
        async with emulator:
            connector = aiohttp.TCPConnector(ssl=emulator.client_ssl_context(), limit=concurrency)
            async with aiohttp.ClientSession(connector=connector) as session:
                token = await app_token(emulator, session)
                session.headers["Authorization"] = f"Bearer {token}"
                graph = emulator.graph_url
                for label, url in (
                    ("GET /users (page of 100)", f"{graph}/users"),
                    ("GET /users?$top=10&$select=…", f"{graph}/users?$top=10&$select=id,mail"),
                    ("GET /users/{id}", f"{graph}/users/{emulator.directory.active_ids()[0]}"),
                ):
                    rate = await requests_per_second(session, url, seconds, concurrency)
                    print(f"{label:<32} {rate:8,.0f} requests/s ({concurrency} in flight)")
                # A $select not used before: every page is serialized cold.
                cold = f"{graph}/users?$top=100&$select=id,displayName,mail,accountEnabled"
                items, pages, took = await follow(session, cold)
                print(
                    f"walk all pages ($top=100, cold)  {pages} pages in {took:.2f} s "
                    f"({pages / took:,.0f} requests/s, 1 in flight)"
                )
                select = "id,displayName,givenName,surname,mail,userPrincipalName,businessPhones"
                items, pages, took = await follow(
                    session, f"{graph}/users?$top=999&$select={select}"
                )
                print(
                    f"list all users ($top=999)        {items} users, {pages} pages in {took:.2f} s"
                )
                delta = f"{graph}/users/delta?$select={select}"
                items, pages, took, link = await delta_round(session, delta)
                print(
                    f"delta full round                 {items} users, {pages} pages in {took:.2f} s"
                )
                for user_id in emulator.directory.active_ids()[::100]:
                    emulator.directory.update_user(user_id, displayName="Changed")
                items, pages, took, _ = await delta_round(session, link)
                print(
                    f"delta after 1,000 changes        {items} users, {pages} pages in {took:.3f} s"
                )
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {peak_mib:.0f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    asyncio.run(run(args.users, args.seconds, args.concurrency))


if __name__ == "__main__":
    main()
