"""Fixtures for a real SQLite store in a temporary directory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from store import Database, SecretBox, generate_key
from store.links import create_link
from store.models import AuthMode, Link, NewLink


@pytest.fixture
def secret_key() -> str:
    return generate_key()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "m365sync.db"


@pytest.fixture
async def db(db_path: Path, secret_key: str) -> AsyncIterator[Database]:
    database = await Database.open(db_path, SecretBox([secret_key.encode()]))
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
