"""Errors the store raises on purpose."""

from __future__ import annotations


class StoreError(Exception):
    """The store was used in a way it does not support."""


class SecretKeyError(StoreError):
    """The secret key cannot decrypt what is stored: a wrong or changed M365SYNC_SECRET_KEY."""


class IntegrityError(StoreError):
    """A constraint refused a write (PostgreSQL's; SQLite raises sqlite3.IntegrityError)."""


class NotFound(StoreError):
    """No such row."""
