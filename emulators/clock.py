"""The emulated clock: real time plus an offset the control API can advance.

Advancing it makes tokens, delta state and subscriptions expire without waiting.
"""

from __future__ import annotations

import time


class Clock:
    def __init__(self) -> None:
        self._offset_s = 0.0

    def now(self) -> float:
        return time.time() + self._offset_s

    def advance(self, seconds: float) -> float:
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        self._offset_s += seconds
        return self.now()

    @property
    def offset_s(self) -> float:
        return self._offset_s
