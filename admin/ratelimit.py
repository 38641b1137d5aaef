"""Failed sign-ins per client address and per account, in a sliding window counted in the
database (store.signin_limits), so every instance on it enforces the same limits."""

from __future__ import annotations

import time
from collections.abc import Callable

from store import Database
from store.signin_limits import add_failure, clear_failures, nth_recent_failure

WINDOW_S = 15 * 60.0
MAX_FAILURES_PER_ACCOUNT = 5
MAX_FAILURES_PER_ADDRESS = 20


class SignInLimiter:
    def __init__(
        self,
        *,
        window_s: float = WINDOW_S,
        per_account: int = MAX_FAILURES_PER_ACCOUNT,
        per_address: int = MAX_FAILURES_PER_ADDRESS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.window_s = window_s
        self._limits = {"account": per_account, "address": per_address}
        self._clock = clock

    async def retry_after_s(self, db: Database, address: str, account: str) -> float:
        """0 when a sign-in may be tried now; else seconds until enough failures age out."""
        now = self._clock()
        waits = [0.0]
        for scope, key in (("address", address), ("account", account.lower())):
            # With `limit` failures in the window, the limit-th most recent one must age
            # out before fewer than `limit` are left.
            at = await nth_recent_failure(
                db, scope, key, since=now - self.window_s, nth=self._limits[scope]
            )
            if at is not None:
                waits.append(at + self.window_s - now)
        return max(waits)

    async def failed(self, db: Database, address: str, account: str) -> None:
        now = self._clock()
        keys = [("address", address), ("account", account.lower())]
        await add_failure(db, keys, now=now, purge_before=now - self.window_s)

    async def succeeded(self, db: Database, account: str) -> None:
        await clear_failures(db, "account", account.lower())
