"""One Graph request, with its bearer token, timeouts and retries.

The retry loop lives here so every call gets the same policy: 429/503/504 wait for
`Retry-After` (else exponential backoff with full jitter), network failures are retried
when repeating the request cannot do harm, a 401 refreshes the token once, and every
attempt is logged at debug without the query string or the token.
"""

from __future__ import annotations

import json
import random
import ssl as ssl_module
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import structlog
import yarl

from worker import metrics
from worker.errors import GraphError, PermanentError, TransientError
from worker.graph.auth import TokenProvider
from worker.graph.failures import error_for_response
from worker.graph.retry import (
    NOT_PROCESSED_STATUSES,
    RETRY_STATUSES,
    RetryBudget,
    RetryPolicy,
    parse_retry_after_s,
)

Sleep = Callable[[float], Awaitable[None]]


USER_AGENT = "m365sync/0.1"

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class GraphResponse:
    """A response read to its end: status, headers and the whole body."""

    status: int
    headers: Mapping[str, str]
    body: bytes


class _Retry(Exception):
    """Internal: this attempt failed in a way worth repeating after `delay_s` (< 0: back off).

    When the retries run out, `outcome` is handed back (a response with a retryable
    status, for the caller to map) or raised (a network failure).
    """

    def __init__(self, reason: str, delay_s: float, outcome: GraphResponse | TransientError):
        super().__init__(reason)
        self.reason = reason
        self.delay_s = delay_s
        self.outcome = outcome


def _before_send(exc: BaseException) -> bool:
    """True when the request cannot have reached Graph (no connection was made)."""
    return isinstance(exc, aiohttp.ClientConnectorError | aiohttp.ConnectionTimeoutError)


class GraphTransport:
    """Owns the aiohttp session; `send` returns the final response or raises a SyncError."""

    def __init__(
        self,
        tokens: TokenProvider,
        *,
        ssl: ssl_module.SSLContext | bool | None,
        connector: aiohttp.BaseConnector | None = None,
        connect_timeout_s: float,
        read_timeout_s: float,
        policy: RetryPolicy,
        sleep: Sleep,
        rng: random.Random,
    ) -> None:
        self._tokens = tokens
        self._ssl: ssl_module.SSLContext | bool = True if ssl is None else ssl
        self._connector = connector
        self._timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=connect_timeout_s, sock_read=read_timeout_s
        )
        self._policy = policy
        self._sleep = sleep
        self._rng = rng
        self._session: aiohttp.ClientSession | None = None

    async def open(self) -> None:
        if self._session is None:
            shared = self._connector is not None and not self._connector.closed
            self._session = aiohttp.ClientSession(
                connector=self._connector if shared else aiohttp.TCPConnector(ssl=self._ssl),
                connector_owner=not shared,
                timeout=self._timeout,
                headers={"User-Agent": USER_AGENT},
            )

    async def close(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    async def send_json(
        self,
        method: str,
        url: str,
        *,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool = True,
        missing_ok: bool = False,
    ) -> dict[str, Any] | None:
        """Send; the JSON object of a 2xx (None if empty, or a 404 when `missing_ok`).

        Any other status raises its error from `worker.graph.failures`.
        """
        response = await self.send(
            method, url, json_body=json_body, headers=headers, idempotent=idempotent
        )
        if missing_ok and response.status == 404:
            return None
        if not 200 <= response.status < 300:
            what = f"{method} {_path(url)}"
            raise error_for_response(response.status, response.headers, response.body, what=what)
        return _decode(method, url, response)

    async def send(
        self,
        method: str,
        url: str,
        *,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool = True,
    ) -> GraphResponse:
        """Send until a final answer; non-retryable statuses come back as responses."""
        budget = RetryBudget(self._policy)
        attempt = 0
        force_refresh = False
        refreshed = False
        while True:
            attempt += 1
            token = await self._tokens.get_token(force_refresh=force_refresh)
            force_refresh = False
            try:
                response = await self._attempt(method, url, token, json_body, headers, idempotent)
            except _Retry as retry:
                if await self._wait_if_allowed(method, url, attempt, budget, retry):
                    continue
                if isinstance(retry.outcome, GraphResponse):
                    return retry.outcome
                raise retry.outcome from retry.__cause__
            if response.status == 401 and not refreshed:
                # A token can be revoked or rotated before its expiry: get a fresh one, once.
                refreshed = force_refresh = True
                attempt -= 1
                continue
            return response

    async def _attempt(
        self,
        method: str,
        url: str,
        token: str,
        json_body: Any,
        headers: Mapping[str, str] | None,
        idempotent: bool,
    ) -> GraphResponse:
        try:
            response = await self._exchange(method, url, token, json_body, headers)
        except aiohttp.ClientSSLError as exc:
            raise PermanentError(f"{method} {_path(url)}: TLS failure: {exc}") from exc
        except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, TimeoutError) as exc:
            error = TransientError(f"{method} {_path(url)}: {type(exc).__name__}: {exc}")
            if not (idempotent or _before_send(exc)):
                raise error from exc
            raise _Retry(type(exc).__name__, -1.0, error) from exc
        if response.status in RETRY_STATUSES and (
            idempotent or response.status in NOT_PROCESSED_STATUSES
        ):
            retry_after_s = parse_retry_after_s(response.headers.get("Retry-After"))
            delay_s = -1.0 if retry_after_s is None else retry_after_s
            raise _Retry(f"status {response.status}", delay_s, response)
        return response

    async def _exchange(
        self,
        method: str,
        url: str,
        token: str,
        json_body: Any,
        headers: Mapping[str, str] | None,
    ) -> GraphResponse:
        session = self._require_session()
        request_headers = {
            "Authorization": f"Bearer {token}",
            "client-request-id": str(uuid.uuid4()),
            **(headers or {}),
        }
        started_s = time.monotonic()
        try:
            async with session.request(
                method,
                yarl.URL(url, encoded=True),
                json=json_body,
                headers=request_headers,
                allow_redirects=False,
            ) as raw:
                # Read the whole body here so a reset mid-body is retried like any other.
                body = await raw.read()
                response = GraphResponse(raw.status, raw.headers, body)
        except (aiohttp.ClientError, TimeoutError) as exc:
            _log_attempt(method, url, started_s, error=type(exc).__name__)
            _count_request("error", started_s)
            raise
        _count_request(str(response.status), started_s)
        _log_attempt(
            method, url, started_s, status=response.status,
            request_id=response.headers.get("request-id"),
        )  # fmt: skip
        return response

    async def _wait_if_allowed(
        self, method: str, url: str, attempt: int, budget: RetryBudget, retry: _Retry
    ) -> bool:
        delay_s = retry.delay_s
        if delay_s < 0:  # no Retry-After: back off exponentially
            delay_s = self._policy.backoff_s(attempt, self._rng)
        if not budget.allows(attempt, delay_s):
            return False
        log.info(
            "graph.retry", method=method, path=_path(url), attempt=attempt,
            reason=retry.reason, delay_s=round(delay_s, 3),
        )  # fmt: skip
        budget.waited_s += delay_s
        metrics.RETRIES.labels(peer="graph").inc()
        await self._sleep(delay_s)
        return True

    def _require_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("GraphClient is not open: use `async with GraphClient(...)`")
        return self._session


def _decode(method: str, url: str, response: GraphResponse) -> dict[str, Any] | None:
    if not response.body.strip():
        return None
    try:
        document = json.loads(response.body)
    except ValueError as exc:
        raise TransientError(f"{method} {_path(url)}: response is not JSON") from exc
    if not isinstance(document, dict):
        raise GraphError(response.status, "invalidResponse", "response is not a JSON object")
    return document


def _path(url: str) -> str:
    return yarl.URL(url, encoded=True).path


def _log_attempt(method: str, url: str, started_s: float, **fields: Any) -> None:
    duration_ms = round((time.monotonic() - started_s) * 1000, 1)
    log.debug("graph.request", method=method, path=_path(url), duration_ms=duration_ms, **fields)


def _count_request(status: str, started_s: float) -> None:
    metrics.GRAPH_REQUESTS.labels(status=status).inc()
    metrics.GRAPH_LATENCY.observe(time.monotonic() - started_s)
