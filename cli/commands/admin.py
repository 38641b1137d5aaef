"""`m365sync admin set-password`: the daemon's own administrator account for the admin page."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os

from admin.passwords import hash_password
from cli.commands.errors import UsageError
from cli.commands.parsers import Subcommands
from store import open_store
from store.admins import set_admin_account
from worker.settings import Settings

PASSWORD_ENV = "M365SYNC_ADMIN_PASSWORD"  # noqa: S105 - the variable's name
DEFAULT_USER = "m365sync"
MIN_LENGTH = 12


def register(sub: Subcommands) -> None:
    admin = sub.add_parser("admin", help="the daemon's administrator account")
    admin_sub = admin.add_subparsers(dest="admin_command", required=True, metavar="ACTION")
    set_password = admin_sub.add_parser(
        "set-password",
        help=f"set the admin page password (hidden prompt, or ${PASSWORD_ENV})",
    )
    set_password.add_argument("--user", default=DEFAULT_USER, help="account name (%(default)s)")
    set_password.set_defaults(handler=run_set_password)


def read_password() -> str:
    password = os.environ.get(PASSWORD_ENV)
    if password is None:
        password = getpass.getpass("New admin password: ")
        if getpass.getpass("Repeat it: ") != password:
            raise UsageError("the two passwords differ")
    if len(password) < MIN_LENGTH:
        raise UsageError(f"the password needs at least {MIN_LENGTH} characters")
    return password


def run_set_password(args: argparse.Namespace, settings: Settings) -> int:
    user = str(args.user).strip()
    if not user or len(user) > 100 or any(c.isspace() for c in user):
        raise UsageError("--user must be a name without spaces")
    asyncio.run(_store(settings, user, hash_password(read_password())))
    print(f"admin password set for {user!r}")
    return 0


async def _store(settings: Settings, user: str, password_hash: str) -> None:
    db = await open_store(
        settings.store_location,
        secret_key=settings.secret_key,
        key_file=settings.key_file,
        synchronous=settings.sqlite_synchronous,
    )
    try:
        await set_admin_account(db, user, password_hash)
    finally:
        await db.close()
