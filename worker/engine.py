"""The worker engine: claims events and runs rounds until told to stop."""

from __future__ import annotations

import asyncio

from store import Database
from worker.settings import Settings


async def run_engine(db: Database, settings: Settings, stop: asyncio.Event) -> None:
    """Run until `stop` is set. (Rounds arrive with the event pipeline.)"""
    await stop.wait()
