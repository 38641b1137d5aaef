"""Open clients per link, kept between rounds and replaced when the link changes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from store import Database
from store.models import Link
from worker.linkctx import LinkClients, open_link_clients
from worker.settings import Settings

ClientsFactory = Callable[[Database, Link, Settings], Awaitable[LinkClients]]


class LinkClientsCache:
    """One `LinkClients` per link, tagged with the link's `updated_at`: any change to the
    link (secrets, settings, state) opens fresh clients on next use."""

    def __init__(
        self, db: Database, settings: Settings, factory: ClientsFactory = open_link_clients
    ) -> None:
        self._db = db
        self._settings = settings
        self._factory = factory
        self._clients: dict[int, tuple[float, LinkClients]] = {}

    async def get(self, link: Link) -> LinkClients:
        cached = self._clients.get(link.id)
        if cached is not None and cached[0] == link.updated_at:
            return cached[1]
        if cached is not None:
            await cached[1].close()
        clients = await self._factory(self._db, link, self._settings)
        self._clients[link.id] = (link.updated_at, clients)
        return clients

    async def drop(self, link_id: int) -> None:
        cached = self._clients.pop(link_id, None)
        if cached is not None:
            await cached[1].close()

    async def close(self) -> None:
        for link_id in list(self._clients):
            await self.drop(link_id)
