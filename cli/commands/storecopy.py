"""`m365sync store copy SOURCE TARGET`: move a stopped deployment's SQLite store to
PostgreSQL (store/copy.py does the copy and its check)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from cli.commands.errors import UsageError
from cli.commands.parsers import Subcommands
from store import load_secret_box, open_database
from store.copy import CopyError, CopyReport, copy_store
from store.db import Database, is_postgres_url
from worker.settings import Settings

_SQLITE_PREFIX = "sqlite:///"


def register(sub: Subcommands) -> None:
    store = sub.add_parser("store", help="move the database to another backend")
    actions = store.add_subparsers(dest="store_command", required=True, metavar="ACTION")
    copy = actions.add_parser(
        "copy",
        help="copy a SQLite store into an empty database (the daemon stopped)",
        description=(
            "Copy every row of a SQLite store into an empty PostgreSQL database (or SQLite"
            " file) and check counts and checksums before committing. Stop every m365sync"
            " process first. Secrets are copied encrypted: run the daemon on the target with"
            " the same M365SYNC_SECRET_KEY."
        ),
    )
    copy.add_argument("source", metavar="SOURCE", help="the SQLite file (or sqlite:///PATH)")
    copy.add_argument(
        "target", metavar="TARGET", help="postgresql://USER@HOST/DB (or a new SQLite file)"
    )
    copy.set_defaults(handler=run_copy)


def store_location(text: str) -> Path | str:
    if is_postgres_url(text):
        return text
    if text.startswith(_SQLITE_PREFIX):
        return Path(text.removeprefix(_SQLITE_PREFIX))
    if "://" in text:
        raise UsageError(f"{text.split('://', 1)[0]}:// is not a store m365sync knows")
    return Path(text)


def run_copy(args: argparse.Namespace, settings: Settings) -> int:
    source = store_location(args.source)
    target = store_location(args.target)
    if not isinstance(source, Path) or not source.is_file():
        raise UsageError(f"SOURCE must be an existing SQLite file, not {args.source}")
    if source == target:
        raise UsageError("SOURCE and TARGET are the same store")
    try:
        report = asyncio.run(_copy(settings, source, target))
    except CopyError as exc:
        print(f"m365sync: store copy: {exc}", file=sys.stderr)
        return 1
    if sys.stderr.isatty():
        print(file=sys.stderr)
    for table in report.tables:
        print(f"  {table.name:<20} {table.rows:>10,} rows  sha256-sum {table.checksum[:16]}")
    print(f"copied and verified {report.rows:,} rows in {len(report.tables)} tables")
    return 0


async def _copy(settings: Settings, source: Path, target: Path | str) -> CopyReport:
    box = load_secret_box(settings.secret_key, settings.key_file)
    src: Database = await open_database(source, box)
    try:
        dst = await open_database(target, box)
        try:
            return await copy_store(src, dst, progress=_progress)
        finally:
            await dst.close()
    finally:
        await src.close()


def _progress(table: str, rows: int) -> None:
    if sys.stderr.isatty():
        print(f"\r  copying {table}: {rows:,} rows", end="", file=sys.stderr, flush=True)
