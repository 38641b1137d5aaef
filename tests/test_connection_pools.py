"""Links share connections (worker/connpool.py): each open TLS connection costs ~300 KB,
so hundreds of links with pools of their own held most of the daemon's memory at rest.
Sharing a connection must share nothing else: every request still carries its own
link's credentials. Connections are counted in the kernel's table (/proc/net/tcp), the
way `ss` sees them, not in aiohttp's internals."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yarl

from cli.commands.demo import add_emulator_link
from emulators.harness import RunningEmulators, running_emulators
from store import Database
from store.links import set_secret
from store.models import Link
from worker.clientcache import LinkClientsCache
from worker.errors import PbxError
from worker.linkctx import PBX_PASSWORD, open_link_clients
from worker.settings import Settings

LINKS = 3
ESTABLISHED = "01"


@pytest.fixture
async def emus(tmp_path: Path) -> AsyncIterator[RunningEmulators]:
    async with running_emulators(tmp_path / "emulators", users=2, extensions=2) as running:
        running.graph.identity.grant_admin_consent(running.info["client_id"])
        yield running


def client_connections(url: str) -> int:
    """Established TCP connections to `url`'s port (the client ends; the emulator's own
    ends have that port as their local port)."""
    port = yarl.URL(url).port
    count = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        remote, state = fields[2], fields[3]
        if state == ESTABLISHED and int(remote.split(":")[1], 16) == port:
            count += 1
    return count


async def _links(db: Database, info: dict[str, Any]) -> list[Link]:
    return [await add_emulator_link(db, info, name=f"link-{n}", settings={}) for n in range(LINKS)]


async def _use(clients_of: Any, links: list[Link]) -> None:
    for link in links:
        clients = await clients_of(link)
        async for _ in clients.graph.iter_users():
            break
        await clients.pbx.list_extensions()


async def test_links_send_on_shared_connections(
    db: Database, emus: RunningEmulators, tmp_path: Path
) -> None:
    settings = Settings(data_dir=tmp_path)
    links = await _links(db, emus.info)
    cache = LinkClientsCache(db, settings)
    try:
        await _use(cache.get, links[:1])
        one = client_connections(emus.graph.url), client_connections(emus.pbx.url)
        assert one[0] == 1  # the token request and the Graph call: one origin here
        await _use(cache.get, links[1:])
        # One after another, the other links went out on the first one's connections.
        assert (client_connections(emus.graph.url), client_connections(emus.pbx.url)) == one
    finally:
        await cache.close()
    assert client_connections(emus.graph.url) == 0


async def test_clients_of_their_own_hold_connections_per_link(
    db: Database, emus: RunningEmulators, tmp_path: Path
) -> None:
    # What the engine did before the pools, and what a one-off command still does.
    settings = Settings(data_dir=tmp_path)
    links = await _links(db, emus.info)
    opened = []

    async def own(link: Link) -> Any:
        opened.append(await open_link_clients(db, link, settings))
        return opened[-1]

    try:
        await _use(own, links[:1])
        one = client_connections(emus.graph.url), client_connections(emus.pbx.url)
        await _use(own, links[1:])
        assert one[0] >= 2  # Graph's session and the credential's: one each
        assert client_connections(emus.graph.url) == LINKS * one[0]
        assert client_connections(emus.pbx.url) == LINKS * one[1]
    finally:
        for clients in opened:
            await clients.close()


async def test_a_shared_connection_carries_each_links_own_credentials(
    db: Database, emus: RunningEmulators, tmp_path: Path
) -> None:
    settings = Settings(data_dir=tmp_path)
    good, bad, other = await _links(db, emus.info)
    await set_secret(db, bad.id, PBX_PASSWORD, "not-the-password")
    cache = LinkClientsCache(db, settings)
    try:
        assert await (await cache.get(good)).pbx.list_extensions()
        with pytest.raises(PbxError) as refused:
            await (await cache.get(bad)).pbx.list_extensions()
        assert refused.value.status == 401
        # The refusal did not stick to the connection, and the good password did not
        # carry over to the bad link.
        assert await (await cache.get(other)).pbx.list_extensions()
        with pytest.raises(PbxError):
            await (await cache.get(bad)).pbx.list_extensions()
    finally:
        await cache.close()
