"""Subcommands of `m365sync`; each module adds its parsers in `register`."""

from __future__ import annotations

from cli.commands import admin, backup, daemon, demo, doctor, keys, links, status, storecopy, sync
from cli.commands.parsers import Subcommands


def register(sub: Subcommands) -> None:
    daemon.register(sub)
    admin.register(sub)
    demo.register(sub)
    links.register(sub)
    sync.register(sub)
    status.register(sub)
    keys.register(sub)
    backup.register(sub)
    doctor.register(sub)
    storecopy.register(sub)
