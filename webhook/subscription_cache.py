"""Recently seen subscriptions, so a notification burst does not read the same row
from SQLite for every POST."""

from __future__ import annotations

import time

from store import Database
from store.models import Subscription
from store.subscriptions import subscriptions_with_tenants

TTL_S = 30.0


class SubscriptionCache:
    """Caches only subscriptions that exist. An unknown id always goes to the store, so a
    new subscription is seen at once; a deleted one may be honoured for up to TTL_S, which
    is harmless because the worker re-reads everything from Graph anyway."""

    def __init__(self, ttl_s: float = TTL_S) -> None:
        self._ttl_s = ttl_s
        self._entries: dict[str, tuple[float, Subscription, str]] = {}

    async def lookup(self, db: Database, ids: list[str]) -> dict[str, tuple[Subscription, str]]:
        now = time.monotonic()
        found: dict[str, tuple[Subscription, str]] = {}
        missing: list[str] = []
        for sub_id in ids:
            entry = self._entries.get(sub_id)
            if entry is not None and now - entry[0] < self._ttl_s:
                found[sub_id] = (entry[1], entry[2])
            else:
                missing.append(sub_id)
        if missing:
            fresh = await subscriptions_with_tenants(db, missing)
            for sub_id, (subscription, tenant_id) in fresh.items():
                self._entries[sub_id] = (now, subscription, tenant_id)
            found.update(fresh)
        return found
