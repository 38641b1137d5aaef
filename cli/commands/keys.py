"""`m365sync keygen`: print a new Fernet key for M365SYNC_SECRET_KEY."""

from __future__ import annotations

import argparse

from cli.commands.parsers import Subcommands
from store.crypto import generate_key
from worker.settings import Settings


def register(sub: Subcommands) -> None:
    parser = sub.add_parser("keygen", help="print a new key for M365SYNC_SECRET_KEY")
    parser.set_defaults(handler=keygen)


def keygen(args: argparse.Namespace, settings: Settings) -> int:
    print(generate_key())
    return 0
