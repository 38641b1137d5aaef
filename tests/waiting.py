"""Waiting for a condition another process or task brings about, with a deadline."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable

import pytest


async def until(
    check: Callable[[], bool | Awaitable[bool]], what: str, timeout_s: float = 30.0
) -> float:
    """Look every 20 ms until `check()` holds; fail the test after `timeout_s`. Returns
    how long it took. For state outside this event loop (a server, a subprocess, the
    emulators) that offers nothing to await."""
    started = time.monotonic()
    while True:
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return time.monotonic() - started
        if time.monotonic() - started > timeout_s:
            pytest.fail(f"not within {timeout_s:g} s: {what}")
        await asyncio.sleep(0.02)
