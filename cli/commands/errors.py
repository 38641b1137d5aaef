"""Errors of the command line."""

from __future__ import annotations


class UsageError(Exception):
    """Bad arguments or configuration: the CLI exits 2 with this message."""
