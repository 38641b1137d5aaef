"""Graph's slow-endpoint policy (graph-api.md §3.4): a reply slower than 2,900 ms counts
as slow; once an endpoint has had 100 notifications in the current 10-minute window,
10 % slow delays its notifications by 10 minutes and 15 % drops them."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum


class Verdict(Enum):
    SEND = "send"
    DELAY = "delay"
    DROP = "drop"


@dataclass(frozen=True, slots=True)
class SlowEndpointPolicy:
    slow_after_s: float = 2.9
    min_notifications: int = 100
    delay_ratio: float = 0.10
    drop_ratio: float = 0.15
    window_s: float = 600.0
    delay_s: float = 600.0


@dataclass(slots=True)
class _Window:
    started_s: float
    notifications: int = 0
    slow: int = 0


class EndpointHealth:
    """Per notification URL counters, reset every window."""

    def __init__(
        self, policy: SlowEndpointPolicy, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self.policy = policy
        self._monotonic = monotonic
        self._windows: dict[str, _Window] = {}

    def _window(self, url: str) -> _Window:
        now = self._monotonic()
        window = self._windows.get(url)
        if window is None or now - window.started_s >= self.policy.window_s:
            window = self._windows[url] = _Window(started_s=now)
        return window

    def record(self, url: str, notifications: int, elapsed_s: float) -> None:
        window = self._window(url)
        window.notifications += notifications
        if elapsed_s > self.policy.slow_after_s:
            window.slow += notifications

    def verdict(self, url: str) -> Verdict:
        window = self._window(url)
        if window.notifications < self.policy.min_notifications:
            return Verdict.SEND
        ratio = window.slow / window.notifications
        if ratio >= self.policy.drop_ratio:
            return Verdict.DROP
        if ratio >= self.policy.delay_ratio:
            return Verdict.DELAY
        return Verdict.SEND
