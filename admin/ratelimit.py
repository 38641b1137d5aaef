"""Failed sign-ins per client address and per account, in a sliding window."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

WINDOW_S = 15 * 60.0
MAX_FAILURES_PER_ACCOUNT = 5
MAX_FAILURES_PER_ADDRESS = 20
_MAX_KEYS = 50_000


class SignInLimiter:
    def __init__(
        self,
        *,
        window_s: float = WINDOW_S,
        per_account: int = MAX_FAILURES_PER_ACCOUNT,
        per_address: int = MAX_FAILURES_PER_ADDRESS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.window_s = window_s
        self._limits = {"account": per_account, "address": per_address}
        self._clock = clock
        self._failures: dict[tuple[str, str], deque[float]] = {}

    def retry_after_s(self, address: str, account: str) -> float:
        """0 when a sign-in may be tried now; else seconds until the oldest failure ages out."""
        now = self._clock()
        waits = [0.0]
        for kind, key in (("address", address), ("account", account.lower())):
            times = self._recent((kind, key), now)
            if len(times) >= self._limits[kind]:
                waits.append(times[0] + self.window_s - now)
        return max(waits)

    def failed(self, address: str, account: str) -> None:
        now = self._clock()
        if len(self._failures) > _MAX_KEYS:
            self._failures.clear()  # memory bound under a flood; the window restarts
        for key in (("address", address), ("account", account.lower())):
            self._recent(key, now).append(now)

    def succeeded(self, account: str) -> None:
        self._failures.pop(("account", account.lower()), None)

    def _recent(self, key: tuple[str, str], now: float) -> deque[float]:
        times = self._failures.setdefault(key, deque())
        while times and now - times[0] > self.window_s:
            times.popleft()
        return times
