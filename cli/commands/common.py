"""Helpers shared by the subcommands: opening the store, finding a link, secrets, output."""

from __future__ import annotations

import asyncio
import getpass
import json
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from cli.commands.errors import UsageError
from store import Database, NotFound, open_store
from store.links import find_link, list_links
from store.models import Link
from worker.settings import Settings

T = TypeVar("T")


def run(settings: Settings, work: Callable[[Database], Awaitable[T]]) -> T:
    """Open the store, run `work`, close the store."""

    async def main() -> T:
        db = await open_store(
            settings.store_location,
            secret_key=settings.secret_key,
            key_file=settings.key_file,
            synchronous=settings.sqlite_synchronous,
        )
        try:
            return await work(db)
        finally:
            await db.close()

    return asyncio.run(main())


async def pick_link(db: Database, name: str | None) -> Link:
    """The named link, or the only one when no name is given."""
    if name:
        try:
            return await find_link(db, name)
        except NotFound as exc:
            raise UsageError(str(exc)) from None
    links = await list_links(db)
    if len(links) == 1:
        return links[0]
    if not links:
        raise UsageError("no links yet; add one with `m365sync link add`")
    names = ", ".join(link.name for link in links)
    raise UsageError(f"several links exist ({names}); name one")


def read_secret(env_name: str, prompt: str, *, required: bool = True) -> str | None:
    """A secret from the named environment variable, else a hidden prompt on a TTY.

    Never from argv: command lines end up in shell history and process lists.
    """
    value = os.environ.get(env_name, "")
    if value:
        return value
    if sys.stdin.isatty():
        value = getpass.getpass(f"{prompt}: ")
        if value:
            return value
    if required:
        raise UsageError(f"{prompt} needed: set {env_name} or run on a terminal to be asked")
    return None


def confirm(question: str) -> bool:
    if not sys.stdin.isatty():
        return False
    answer = input(f"{question} [y/N] ").strip().lower()
    return answer in ("y", "yes")


def print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, ensure_ascii=False, default=str)
    sys.stdout.write("\n")


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    cells = [[str(h) for h in headers], *[[_cell(v) for v in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    for index, row in enumerate(cells):
        print("  ".join(value.ljust(widths[i]) for i, value in enumerate(row)).rstrip())
        if index == 0:
            print("  ".join("-" * w for w in widths))


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def when(timestamp: float | None) -> str:
    if not timestamp:
        return "never"
    import datetime as dt

    return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")
