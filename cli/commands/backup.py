"""`m365sync backup PATH`: a consistent copy of the database while the daemon runs.

SQLite's online backup API copies every page under a read transaction, so writers keep
going and the copy is one point in time. The copy goes to a temporary file beside PATH,
is checked, turned into a single self-contained file (no WAL), and only then renamed
into place: a PATH that exists is always a whole backup. Restoring is copying it back
while the daemon is stopped.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from cli.commands.errors import UsageError
from cli.commands.parsers import Subcommands
from store import open_store
from worker.settings import Settings


@dataclass(frozen=True, slots=True)
class BackupReport:
    path: Path
    size_bytes: int
    migrations: tuple[str, ...]
    events: int


class BackupError(Exception):
    """The copy failed its check; nothing was put at the target path."""


def register(sub: Subcommands) -> None:
    parser = sub.add_parser(
        "backup", help="copy the database to PATH while the daemon keeps running"
    )
    parser.add_argument("path", type=Path, metavar="PATH", help="the backup file to write")
    parser.add_argument("--force", action="store_true", help="replace PATH if it exists")
    parser.set_defaults(handler=run_backup)


def run_backup(args: argparse.Namespace, settings: Settings) -> int:
    target: Path = args.path
    if target.exists() and not args.force:
        raise UsageError(f"{target} exists; pass --force to replace it")
    if settings.database_url is not None:
        raise UsageError(
            "m365sync backup copies the SQLite file; back up PostgreSQL with its own tools"
            " (pg_dump, base backups)"
        )
    if not settings.database.exists():
        raise UsageError(f"no database at {settings.database} (M365SYNC_DATABASE)")
    report = asyncio.run(backup_database(settings, target))
    print(
        f"backup written: {report.path} ({report.size_bytes} bytes, "
        f"{len(report.migrations)} migrations, {report.events} events)"
    )
    return 0


async def backup_database(settings: Settings, target: Path) -> BackupReport:
    """Copy the live database to `target` (replacing it), checked and self-contained."""
    partial = target.with_name(f".{target.name}.partial")
    partial.unlink(missing_ok=True)
    db = await open_store(
        settings.store_location,
        secret_key=settings.secret_key,
        key_file=settings.key_file,
        synchronous=settings.sqlite_synchronous,
    )
    try:
        await db.backup_to(partial)
    finally:
        await db.close()
    try:
        report = await asyncio.to_thread(_finish, partial, target)
    except BaseException:
        with contextlib.suppress(OSError):
            partial.unlink()
        raise
    return report


def _finish(partial: Path, target: Path) -> BackupReport:
    os.chmod(partial, 0o600)  # the copy holds the same (encrypted) secrets as the original
    conn = sqlite3.connect(partial, isolation_level=None)
    try:
        problems = [row[0] for row in conn.execute("PRAGMA integrity_check")]
        if problems != ["ok"]:
            raise BackupError(f"the copy failed its integrity check: {problems[:5]}")
        conn.execute("PRAGMA journal_mode=DELETE")
        names = tuple(r[0] for r in conn.execute("SELECT name FROM migrations ORDER BY name"))
        (events,) = conn.execute("SELECT count(*) FROM events").fetchone()
    finally:
        conn.close()
    os.replace(partial, target)
    return BackupReport(target, target.stat().st_size, names, int(events))
