"""What a subcommand module needs to register itself: something that adds parsers.

`argparse.ArgumentParser.add_subparsers()` returns one; typing against this small
protocol keeps the modules off argparse's private `_SubParsersAction`.
"""

from __future__ import annotations

import argparse
from typing import Any, Protocol


class Subcommands(Protocol):
    def add_parser(self, name: str, **kwargs: Any) -> argparse.ArgumentParser: ...
