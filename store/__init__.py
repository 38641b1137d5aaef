"""aiosqlite persistence. All SQL of the product lives in this package.

`open_store()` opens (and migrates) the database; the modules hold small functions
per table that take and return the dataclasses of `store.models`.
"""

from __future__ import annotations

from pathlib import Path

from store.backends import open_database
from store.crypto import SecretBox, generate_key, load_secret_box
from store.db import Database, Transaction
from store.errors import NotFound, SecretKeyError, StoreError


async def open_store(
    path: Path | str,
    *,
    secret_key: str | None,
    key_file: Path,
    synchronous: str = "full",
) -> Database:
    """Open the database at `path`, creating and migrating it as needed."""
    box = load_secret_box(secret_key, key_file)
    return await open_database(path, box, synchronous=synchronous)


__all__ = [
    "Database",
    "NotFound",
    "SecretBox",
    "SecretKeyError",
    "StoreError",
    "Transaction",
    "generate_key",
    "load_secret_box",
    "open_database",
    "open_store",
]
