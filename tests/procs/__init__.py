"""Child processes the tests start against a real store."""

from __future__ import annotations

from pathlib import Path


def location(arg: str) -> Path | str:
    """A child's store argument: a PostgreSQL URL as given, else a SQLite file path."""
    return arg if arg.startswith(("postgresql://", "postgres://")) else Path(arg)
