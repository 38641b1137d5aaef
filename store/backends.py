"""Which backend a store location names: a `postgresql://` URL, else a SQLite file."""

from __future__ import annotations

from pathlib import Path

from store.crypto import SecretBox
from store.db import Database, is_postgres_url


async def open_database(
    location: Path | str, box: SecretBox, *, synchronous: str = "full"
) -> Database:
    """Open (and migrate) the store at `location`; the caller never needs to know which."""
    if is_postgres_url(location):
        # Imported here so that a SQLite deployment never loads asyncpg.
        from store.pg import PgDatabase

        return await PgDatabase.open_url(str(location), box)
    return await Database.open(location, box, synchronous=synchronous)
