"""Fault injection shared by the emulators: a middleware plus its rules.

A rule matches a method and a path pattern and fires for `count` requests; it can
answer with a status (429 with Retry-After, 500, 503, 504), reset the connection,
add latency before the real handler runs, or lose the reply (`lost_reply`: the handler
runs, so Graph did create the subscription, then the connection is aborted - a gateway
timeout as the client sees it).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

ErrorBody = Callable[[int, str], web.Response]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

FAULT_KINDS = frozenset({"status", "reset", "latency", "lost_reply"})


@dataclass(slots=True)
class FaultRule:
    path_pattern: str
    kind: str  # "status" | "reset" | "latency" | "lost_reply"
    count: int = 1  # how many matching requests it affects; -1 = unlimited
    method: str = "*"
    status: int = 503
    retry_after_s: float | None = None
    latency_s: float = 0.0
    skip: int = 0  # let this many matching requests through before the rule fires
    hits: int = 0
    _regex: re.Pattern[str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            expected = sorted(FAULT_KINDS)
            raise ValueError(f"unknown fault kind {self.kind!r}; expected one of {expected}")
        self._regex = re.compile(self.path_pattern)

    def matches(self, request: web.Request) -> bool:
        if self.count == 0:
            return False
        if self.method != "*" and self.method.upper() != request.method:
            return False
        if self._regex.search(request.path) is None:
            return False
        if self.skip > 0:
            self.skip -= 1
            return False
        return True

    def consume(self) -> None:
        self.hits += 1
        if self.count > 0:
            self.count -= 1

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> FaultRule:
        try:
            return cls(
                path_pattern=str(body["path"]),
                kind=str(body.get("kind", "status")),
                count=int(body.get("count", 1)),
                method=str(body.get("method", "*")),
                status=int(body.get("status", 503)),
                retry_after_s=(
                    float(body["retry_after"]) if body.get("retry_after") is not None else None
                ),
                latency_s=float(body.get("latency_s", 0.0)),
                skip=int(body.get("skip", 0)),
            )
        except (KeyError, TypeError, ValueError, re.error) as exc:
            raise ValueError(f"bad fault rule: {exc}") from exc

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path_pattern,
            "kind": self.kind,
            "count": self.count,
            "method": self.method,
            "status": self.status,
            "retry_after": self.retry_after_s,
            "latency_s": self.latency_s,
            "skip": self.skip,
            "hits": self.hits,
        }


class FaultInjector:
    """Holds the rules; `middleware` applies them to every request except the control API."""

    def __init__(self, error_body: ErrorBody, control_prefix: str = "/_emulator/") -> None:
        self.rules: list[FaultRule] = []
        self._error_body = error_body
        self._control_prefix = control_prefix
        self.base_latency_s = 0.0

    def add(self, rule: FaultRule) -> FaultRule:
        self.rules.append(rule)
        return rule

    def clear(self) -> None:
        self.rules.clear()

    def _take(self, request: web.Request) -> FaultRule | None:
        for rule in self.rules:
            if rule.matches(request):
                rule.consume()
                return rule
        return None

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith(self._control_prefix):
            return await handler(request)
        if self.base_latency_s > 0:
            await asyncio.sleep(self.base_latency_s)
        rule = self._take(request)
        if rule is None:
            return await handler(request)
        if rule.kind == "latency":
            await asyncio.sleep(rule.latency_s)
            return await handler(request)
        if rule.kind == "lost_reply":
            await handler(request)
            _reset_connection(request)
            raise asyncio.CancelledError
        if rule.kind == "reset":
            _reset_connection(request)
            raise asyncio.CancelledError  # aiohttp drops the request without a response
        response = self._error_body(rule.status, "injected fault")
        if rule.retry_after_s is not None:
            response.headers["Retry-After"] = str(int(rule.retry_after_s))
        return response


def _reset_connection(request: web.Request) -> None:
    transport = request.transport
    if transport is not None:
        # abort() closes without a FIN handshake: the client sees a reset or a
        # server disconnect, like a proxy or PBX dying mid-request.
        transport.abort()


def add_control_routes(app: web.Application, injector: FaultInjector, prefix: str) -> None:
    """`POST {prefix}faults` adds a rule, `GET` lists them, `DELETE` clears them."""

    async def add_fault(request: web.Request) -> web.Response:
        try:
            body = await request.json()
            rule = injector.add(FaultRule.from_json(body))
        except ValueError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response(rule.to_json(), status=201)

    async def list_faults(request: web.Request) -> web.Response:
        return web.json_response([rule.to_json() for rule in injector.rules])

    async def clear_faults(request: web.Request) -> web.Response:
        injector.clear()
        return web.Response(status=204)

    app.router.add_post(f"{prefix}faults", add_fault)
    app.router.add_get(f"{prefix}faults", list_faults)
    app.router.add_delete(f"{prefix}faults", clear_faults)
