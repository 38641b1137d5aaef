"""Subcommands of `m365sync`; each module adds its parsers in `register`."""

from __future__ import annotations

import argparse

from worker.commands import daemon, keys


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    daemon.register(sub)
    keys.register(sub)
