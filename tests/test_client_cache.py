"""The link clients cache closes clients idle for `idle_s` (memory with hundreds of
links), never while a round or a subscription check holds them, and opens them again on
next use. The factory stands in for opening real clients: what is tested is the cache's
bookkeeping, on real links in a real store."""

from __future__ import annotations

from typing import cast

from store import Database
from store.links import create_link
from store.models import Link
from tests.plugins.store import sample_link
from worker.clientcache import LinkClientsCache
from worker.linkctx import LinkClients
from worker.settings import Settings


class FakeClients:
    def __init__(self, link: Link) -> None:
        self.link = link
        self.closed = False

    async def close(self) -> None:
        self.closed = True


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _cache(db: Database, clock: Clock, opened: list[FakeClients]) -> LinkClientsCache:
    async def factory(_db: Database, link: Link, _settings: Settings) -> LinkClients:
        clients = FakeClients(link)
        opened.append(clients)
        return cast(LinkClients, clients)

    return LinkClientsCache(db, Settings(), factory, idle_s=300.0, clock=clock)


async def test_idle_clients_are_closed_and_opened_again_on_use(db: Database) -> None:
    clock, opened = Clock(), list[FakeClients]()
    cache = _cache(db, clock, opened)
    idle, busy = [await create_link(db, sample_link(f"l{n}")) for n in range(2)]
    await cache.get(idle)
    await cache.get(busy)
    clock.now += 200
    await cache.get(busy)
    clock.now += 150  # idle: 350 s unused; busy: 150 s
    assert await cache.evict_idle() == 1
    assert opened[0].closed and not opened[1].closed
    assert len(cache) == 1
    again = await cache.get(idle)
    assert again is cast(LinkClients, opened[2]) and not opened[2].closed


async def test_held_clients_are_not_closed_however_long_the_work(db: Database) -> None:
    clock, opened = Clock(), list[FakeClients]()
    cache = _cache(db, clock, opened)
    link = await create_link(db, sample_link("long-round"))
    async with cache.hold(link.id):
        await cache.get(link)
        clock.now += 3600
        assert await cache.evict_idle() == 0
        assert not opened[0].closed
    # The hold's end counts as a use: idle from then on.
    assert await cache.evict_idle() == 0
    clock.now += 301
    assert await cache.evict_idle() == 1
    assert opened[0].closed
