"""What the engine's parts share: a frozen context, built once by `build_engine`.

The link worker and the scheduler get this instead of the engine, so neither can reach
back into the engine or into each other.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from store import Database
from worker.alerts import Alerts
from worker.settings import Settings
from worker.wake import Waker


@dataclass(frozen=True, slots=True)
class EngineConfig:
    lease_s: float = 120.0
    max_attempts: int = 8
    retry_base_s: float = 5.0
    retry_max_s: float = 900.0
    poll_s: float = 2.0
    maintenance_every_s: float = 60.0
    recheck_delays_s: tuple[float, ...] = (5.0, 15.0, 40.0)
    shutdown_grace_s: float = 20.0
    # How often a running round renews its link lease; another host takes the lease back
    # after a few missed beats (worker/liveness.py), so this is kept well under lease_s.
    heartbeat_s: float = 5.0
    # At most this many sweeps claimed at once (store/sweeps.py); None: no limit.
    max_sweeps: int | None = 4
    # At most this many rounds running at once in this engine; None: no limit.
    max_rounds: int | None = 32
    # A link's clients (sessions, credential) are closed, and its cached directory
    # forgotten, after this long unused.
    clients_idle_s: float = 300.0

    @property
    def beat_s(self) -> float:
        return min(self.heartbeat_s, self.lease_s / 3)

    @classmethod
    def from_settings(cls, settings: Settings) -> EngineConfig:
        return cls(
            lease_s=settings.worker_lease_s,
            poll_s=settings.worker_poll_s,
            max_sweeps=settings.max_concurrent_sweeps,
            max_rounds=settings.max_concurrent_rounds,
        )


@dataclass(frozen=True, slots=True)
class WorkerContext:
    db: Database
    settings: Settings
    config: EngineConfig
    clock: Callable[[], float]
    worker_id: str
    alerts: Alerts
    waker: Waker
    _subscription_locks: dict[int, asyncio.Lock] = field(default_factory=dict)

    def subscription_lock(self, link_id: int) -> asyncio.Lock:
        """Held while a link's subscription is checked, renewed or made: the upkeep and a
        lifecycle event's round could otherwise both create one, and each would delete the
        other's as an orphan (worker/subscriptions.py)."""
        return self._subscription_locks.setdefault(link_id, asyncio.Lock())
