"""A real PostgreSQL server for the tests: one per session, a fresh database per test.

The server is Debian's postgresql (tests/pgserver.py starts it in a temp directory on a
free port, as an unprivileged user when we are root) and stops when the session ends.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import asyncpg
import pytest

from tests.pgserver import PgServer, running_server

_NAMES = itertools.count(1)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    with running_server() as server:
        yield server


@pytest.fixture
async def pg_url(pg_server: PgServer) -> str:
    """The URL of a new, empty database (no migrations applied yet)."""
    return await new_database(pg_server)


async def new_database(pg_server: PgServer) -> str:
    """Create a new, empty database on the server; its URL."""
    name = f"t{next(_NAMES)}"
    conn = await asyncpg.connect(pg_server.url())
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return pg_server.url(name)
