"""Fixtures for a real store: a SQLite file in a temporary directory, or a fresh database
on the session's PostgreSQL server.

`db` runs on SQLite unless a test module overrides `backend` (the store tests do, with
`both_backends`: every test of theirs then runs on both)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from store import Database, SecretBox, generate_key, open_database
from store.links import create_link
from store.models import AuthMode, Link, NewLink


@pytest.fixture
def secret_key() -> str:
    return generate_key()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "m365sync.db"


BACKENDS = ("sqlite", "postgresql")


@pytest.fixture
def backend() -> str:
    return "sqlite"


@pytest.fixture(params=BACKENDS)
def both_backends(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def store_location(backend: str, db_path: Path, request: pytest.FixtureRequest) -> Path | str:
    """What `Database.open` takes: the SQLite file, or a fresh PostgreSQL database's URL."""
    if backend == "sqlite":
        return db_path
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
async def db(store_location: Path | str, secret_key: str) -> AsyncIterator[Database]:
    database = await open_database(store_location, SecretBox([secret_key.encode()]))
    yield database
    await database.close()


def sample_link(name: str = "contoso") -> NewLink:
    return NewLink(
        name=name,
        tenant_id="7f3c2a10-5b1e-4c7d-9a2e-0d4b6c8e1f20",
        client_id="3d9e1b7a-2c4f-4e8a-b5d1-6f0a9c3e7b42",
        auth_mode=AuthMode.APPLICATION,
        pbx_url="http://127.0.0.1:1",
        pbx_domain="pbx.contoso.example",
        pbx_user="admin@pbx.contoso.example",
        settings={"ranges": "200-299"},
    )


@pytest.fixture
async def link(db: Database) -> Link:
    return await create_link(db, sample_link())
