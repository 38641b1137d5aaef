"""When and how long to wait before trying a Graph request again.

Graph asks clients to honour `Retry-After` on 429 and 503 and otherwise back off
exponentially; throttled calls still count against the quota, so an immediate retry
only digs the hole deeper. Full jitter spreads the retries of many links apart.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

# 429 is always "not processed"; 503/504 are how Graph sheds load (504 may
# accompany 503). Other 5xx are left to the worker's own event retries.
RETRY_STATUSES = frozenset({429, 503, 504})

# Statuses that promise the request was not carried out, so even a POST may be repeated.
NOT_PROCESSED_STATUSES = frozenset({429, 503})


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Caps on one request's retries: attempts in all, and seconds spent waiting and trying."""

    max_attempts: int = 5
    max_retry_time_s: float = 120.0
    backoff_base_s: float = 0.5
    backoff_max_s: float = 30.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.max_retry_time_s < 0 or self.backoff_base_s < 0 or self.backoff_max_s < 0:
            raise ValueError("retry times must not be negative")

    def backoff_s(self, attempt: int, rng: random.Random) -> float:
        """Full jitter: uniform in [0, min(max, base * 2**(attempt-1))]."""
        ceiling_s = min(self.backoff_max_s, self.backoff_base_s * 2 ** max(attempt - 1, 0))
        return rng.uniform(0.0, ceiling_s)


@dataclass(slots=True)
class RetryBudget:
    """Time spent on one request so far.

    Counts both the wall clock and the waits asked for, whichever is larger, so the cap
    holds with the real `asyncio.sleep` and with a test's instant one alike.
    """

    policy: RetryPolicy
    started_s: float = field(default_factory=time.monotonic)
    waited_s: float = 0.0

    def spent_s(self) -> float:
        return max(time.monotonic() - self.started_s, self.waited_s)

    def allows(self, attempt: int, delay_s: float) -> bool:
        """May we wait `delay_s` and make attempt number `attempt + 1`?"""
        if attempt >= self.policy.max_attempts:
            return False
        return self.spent_s() + delay_s <= self.policy.max_retry_time_s


def parse_retry_after_s(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait per a `Retry-After` (delta-seconds or HTTP-date); None if absent/bad."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return max(seconds, 0.0) if math.isfinite(seconds) else None
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    current = now if now is not None else datetime.now(UTC)
    return max((when - current).total_seconds(), 0.0)
