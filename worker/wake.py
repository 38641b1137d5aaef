"""How the webhook tells an in-process worker that events are waiting."""

from __future__ import annotations

import asyncio
import contextlib


class Waker:
    """Collects link ids with new events and wakes whoever waits.

    In split deployments (separate web and worker processes) nobody waits here and
    the worker finds the events by polling the store instead.
    """

    def __init__(self) -> None:
        self._event = asyncio.Event()
        self._links: set[int] = set()

    def wake(self, link_ids: set[int] | None = None) -> None:
        if link_ids:
            self._links |= link_ids
        self._event.set()

    async def wait(self, timeout_s: float) -> set[int]:
        """Wait until woken or the timeout passes; returns (and forgets) the woken links."""
        if not self._event.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._event.wait(), timeout_s)
        self._event.clear()
        links, self._links = self._links, set()
        return links
