"""Subcommands of `m365sync`; each module adds its parsers in `register`."""

from __future__ import annotations

import argparse

from cli.commands import admin, backup, daemon, demo, keys, links, status, sync


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    daemon.register(sub)
    admin.register(sub)
    demo.register(sub)
    links.register(sub)
    sync.register(sub)
    status.register(sub)
    keys.register(sub)
    backup.register(sub)
