"""Open clients per link, kept between rounds and replaced when the link changes.

Clients idle for `idle_s` are closed: with hundreds of links, each link's sessions and
credential would otherwise stay in memory between rounds that may be hours apart. The
next round opens them again (one token request more). The connections themselves are
pooled across links (worker/connpool.py) and outlive any one link's clients.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import structlog

from store import Database
from store.models import Link
from worker.connpool import ConnectionPools
from worker.linkctx import LinkClients, open_link_clients
from worker.settings import Settings

ClientsFactory = Callable[[Database, Link, Settings], Awaitable[LinkClients]]

log = structlog.get_logger("m365sync.clients")

# Long enough that a link polling every minute or two keeps its clients (and its token).
DEFAULT_IDLE_S = 300.0


class LinkClientsCache:
    """One `LinkClients` per link, tagged with the link's `updated_at`: any change to the
    link (secrets, settings, state) opens fresh clients on next use.

    Without a `factory`, clients are opened on this cache's shared connection pools."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        factory: ClientsFactory | None = None,
        *,
        idle_s: float = DEFAULT_IDLE_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._db = db
        self._settings = settings
        self._factory = factory
        self.pools = ConnectionPools()
        self._idle_s = idle_s
        self._clock = clock
        self._clients: dict[int, tuple[float, LinkClients]] = {}
        self._used: dict[int, float] = {}  # when each link's clients were last handed out
        self._holds: dict[int, int] = {}  # work in progress that uses them

    def __len__(self) -> int:
        return len(self._clients)

    async def get(self, link: Link) -> LinkClients:
        self._used[link.id] = self._clock()
        cached = self._clients.get(link.id)
        if cached is not None and cached[0] == link.updated_at:
            return cached[1]
        if cached is not None:
            await cached[1].close()
        if self._factory is None:
            clients = await open_link_clients(self._db, link, self._settings, self.pools)
        else:
            clients = await self._factory(self._db, link, self._settings)
        self._clients[link.id] = (link.updated_at, clients)
        return clients

    @contextlib.asynccontextmanager
    async def hold(self, link_id: int) -> AsyncIterator[None]:
        """While held (a round, a subscription check), the link's clients are not idle,
        however long the work takes."""
        self._holds[link_id] = self._holds.get(link_id, 0) + 1
        try:
            yield
        finally:
            self._holds[link_id] -= 1
            if not self._holds[link_id]:
                del self._holds[link_id]
            self._used[link_id] = self._clock()

    async def evict_idle(self, idle_s: float | None = None) -> int:
        """Close the clients of links not held and not used for `idle_s` (the cache's own
        unless given); how many."""
        cutoff = self._clock() - (self._idle_s if idle_s is None else idle_s)
        idle = [
            link_id
            for link_id in self._clients
            if link_id not in self._holds and self._used.get(link_id, 0.0) <= cutoff
        ]
        for link_id in idle:
            await self.drop(link_id)
        if idle:
            log.info("clients.evicted", links=len(idle), open=len(self._clients))
        return len(idle)

    async def drop(self, link_id: int) -> None:
        cached = self._clients.pop(link_id, None)
        self._used.pop(link_id, None)
        if cached is not None:
            await cached[1].close()

    async def close(self) -> None:
        for link_id in list(self._clients):
            await self.drop(link_id)
        await self.pools.close()
