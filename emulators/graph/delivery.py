"""Delivers change and lifecycle notifications the way Graph does: batched POSTs of
`{"value":[…]}` per notification URL, a 2xx within the timeout counts as delivered,
anything else is retried with backoff until the horizon, then dropped and counted."""

from __future__ import annotations

import asyncio
import collections
import ssl
import time
from dataclasses import asdict, dataclass
from typing import Any

import aiohttp

from .config import GraphEmulatorConfig
from .subscriptions import Subscription, Subscriptions, iso_ms
from .throttling import EndpointHealth, SlowEndpointPolicy, Verdict

MAX_BATCH = 100
LIFECYCLE_EVENTS = frozenset({"reauthorizationRequired", "subscriptionRemoved", "missed"})
# What Graph documents for users (concepts/change-notifications-lifecycle-events.md); the
# others need `lifecycle_fault_injection`.
USER_LIFECYCLE_EVENTS = frozenset({"reauthorizationRequired"})


@dataclass(slots=True)
class DeliveryCounters:
    delivered: int = 0  # notifications acknowledged with a 2xx
    retried: int = 0  # notifications sent again after a failed attempt
    dropped: int = 0  # notifications given up on (horizon reached, or throttled)
    throttled: int = 0  # notifications delayed or dropped for a slow endpoint
    posts: int = 0  # HTTP POSTs attempted


class _Target:
    def __init__(self, url: str) -> None:
        self.url = url
        self.pending: list[dict[str, Any]] = []
        self.task: asyncio.Task[None] | None = None


class Delivery:
    def __init__(
        self,
        config: GraphEmulatorConfig,
        subscriptions: Subscriptions,
    ) -> None:
        self._config = config
        self._subscriptions = subscriptions
        self._targets: dict[str, _Target] = {}
        self._outstanding = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._session: aiohttp.ClientSession | None = None
        self.counters = DeliveryCounters()
        self.health = EndpointHealth(
            SlowEndpointPolicy(
                slow_after_s=config.slow_endpoint_after_s,
                min_notifications=config.slow_endpoint_min_notifications,
                window_s=config.slow_endpoint_window_s,
                delay_s=config.slow_endpoint_delay_s,
            )
        )
        self.recent: collections.deque[dict[str, Any]] = collections.deque(maxlen=50)

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("delivery is not started")
        return self._session

    async def start(self, ssl_context: ssl.SSLContext) -> None:
        connector = aiohttp.TCPConnector(ssl=ssl_context)
        self._session = aiohttp.ClientSession(connector=connector)

    async def stop(self) -> None:
        tasks = [t.task for t in self._targets.values() if t.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._targets.clear()
        self._outstanding = 0
        self._idle.set()
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def idle(self) -> None:
        """Return once every queued notification was delivered or dropped."""
        await self._idle.wait()

    # -- what produces notifications ------------------------------------------------------

    def on_change(self, user_id: str, change_type: str) -> None:
        """Directory listener: one notification per matching subscription."""
        for sub in self._subscriptions.matching(user_id, change_type):
            resource = f"Users/{user_id}"
            self._enqueue(
                sub.notification_url,
                {
                    "subscriptionId": sub.id,
                    "subscriptionExpirationDateTime": iso_ms(sub.expires_at_s),
                    "changeType": change_type,
                    "resource": resource,
                    "resourceData": {
                        "@odata.type": "#Microsoft.Graph.User",
                        "@odata.id": resource,
                        "id": user_id,
                        "organizationId": self._config.tenant.tenant_id,
                    },
                    "clientState": sub.client_state,
                    "tenantId": self._config.tenant.tenant_id,
                },
            )

    def fire_lifecycle(self, sub: Subscription, event: str) -> None:
        if event not in LIFECYCLE_EVENTS:
            raise ValueError(f"unknown lifecycle event {event!r}")
        if event not in USER_LIFECYCLE_EVENTS and not self._config.lifecycle_fault_injection:
            raise ValueError(
                f"{event} is not sent for users; start the emulator with "
                "lifecycle_fault_injection to inject it"
            )
        if sub.lifecycle_url is None:
            raise ValueError("the subscription has no lifecycleNotificationUrl")
        if event == "subscriptionRemoved":
            self._subscriptions.remove(sub.id)
        self._enqueue(
            sub.lifecycle_url,
            {
                "subscriptionId": sub.id,
                "subscriptionExpirationDateTime": iso_ms(sub.expires_at_s),
                "tenantId": self._config.tenant.tenant_id,
                "clientState": sub.client_state,
                "lifecycleEvent": event,
            },
        )

    # -- sending ---------------------------------------------------------------------------

    def _enqueue(self, url: str, item: dict[str, Any]) -> None:
        if self._session is None:
            return  # stopped: Graph would not be sending either
        target = self._targets.setdefault(url, _Target(url))
        target.pending.append(item)
        self._outstanding += 1
        self._idle.clear()
        if target.task is None or target.task.done():
            target.task = asyncio.get_running_loop().create_task(self._drain(target))

    async def _drain(self, target: _Target) -> None:
        while target.pending:
            batch = target.pending[:MAX_BATCH]
            del target.pending[:MAX_BATCH]
            try:
                verdict = self.health.verdict(target.url)
                if verdict is Verdict.DROP:
                    self.counters.dropped += len(batch)
                    self.counters.throttled += len(batch)
                    continue
                if verdict is Verdict.DELAY:
                    self.counters.throttled += len(batch)
                    await asyncio.sleep(self.health.policy.delay_s)
                await self._deliver(target.url, batch)
            finally:
                self._outstanding -= len(batch)
                if self._outstanding == 0:
                    self._idle.set()

    async def _deliver(self, url: str, batch: list[dict[str, Any]]) -> None:
        loop = asyncio.get_running_loop()
        first_attempt = loop.time()
        delay_s = self._config.delivery_retry_base_s
        while True:
            if await self._post(url, batch):
                self.counters.delivered += len(batch)
                return
            if loop.time() - first_attempt + delay_s > self._config.delivery_horizon_s:
                self.counters.dropped += len(batch)
                return
            self.counters.retried += len(batch)
            flagged = self.health.verdict(url) is not Verdict.SEND
            await asyncio.sleep(self.health.policy.delay_s if flagged else delay_s)
            delay_s = min(delay_s * 2, self._config.delivery_retry_max_s)

    async def _post(self, url: str, batch: list[dict[str, Any]]) -> bool:
        self.counters.posts += 1
        timeout = aiohttp.ClientTimeout(total=self._config.delivery_timeout_s)
        status: int | str
        started_s = time.monotonic()
        try:
            async with self.session.post(url, json={"value": batch}, timeout=timeout) as resp:
                status = resp.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            status = type(exc).__name__
        if self._config.slow_endpoint_throttling:
            self.health.record(url, len(batch), time.monotonic() - started_s)
        self.recent.append({"url": url, "count": len(batch), "status": status})
        return isinstance(status, int) and 200 <= status < 300

    def state(self) -> dict[str, Any]:
        return {
            "counters": asdict(self.counters),
            "pending": self._outstanding,
            "recent": list(self.recent),
        }
