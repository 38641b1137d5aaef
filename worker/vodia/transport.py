"""HTTP to one Vodia PBX: Basic auth, bounded concurrency, retries, typed errors.

Only GET, POST and PUT exist here. The product never deletes an extension, so the
transport cannot send any other method: there is no code path that could. Writes go
out as POST (Vodia's OpenAPI v70.3); older builds route them for PUT only (Vodia's PHP
sample, vodia.com/documentation/vodia_php_rest_api) and answer POST with 405, so
`write` falls back to PUT once and keeps using it for this PBX.
"""

from __future__ import annotations

import asyncio
import json
import random
import ssl as ssl_module
import time
from typing import Any, Literal

import aiohttp
import structlog

from worker import metrics
from worker.errors import (
    PbxAuthError,
    PbxError,
    PbxForbiddenError,
    PbxNotFoundError,
    TransientError,
)

Method = Literal["GET", "POST", "PUT"]
ALLOWED_METHODS: frozenset[str] = frozenset({"GET", "POST", "PUT"})
_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_NETWORK_ERRORS = (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, TimeoutError)
_MAX_RETRY_AFTER_S = 60.0

log = structlog.get_logger(__name__)


class _Retryable(Exception):
    def __init__(self, reason: str, retry_after_s: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after_s = retry_after_s


class PbxTransport:
    def __init__(
        self,
        base_url: str,
        username: str,
        password: str,
        *,
        ssl: ssl_module.SSLContext | bool | None = None,
        connector: aiohttp.BaseConnector | None = None,
        max_in_flight: int = 8,
        timeout_s: float = 30.0,
        retries: int = 4,
        backoff_s: float = 0.5,
        backoff_max_s: float = 10.0,
    ) -> None:
        if max_in_flight < 1:
            raise ValueError("max_in_flight must be at least 1")
        self._base_url = base_url.rstrip("/")
        self._authorization = aiohttp.encode_basic_auth(username, password)
        self._ssl: ssl_module.SSLContext | bool = True if ssl is None else ssl
        self._connector = connector  # borrowed, shared with other links (worker/connpool.py)
        self._in_flight = asyncio.Semaphore(max_in_flight)
        self._timeout = aiohttp.ClientTimeout(total=timeout_s, connect=min(timeout_s, 10.0))
        self._retries = retries
        self._backoff_s = backoff_s
        self._backoff_max_s = backoff_max_s
        self._session: aiohttp.ClientSession | None = None
        self._write_method: Method = "POST"

    async def open(self) -> None:
        if self._session is None:
            shared = self._connector if self._connector and not self._connector.closed else None
            self._session = aiohttp.ClientSession(
                connector=shared if shared else aiohttp.TCPConnector(ssl=self._ssl),
                connector_owner=not shared,
                timeout=self._timeout,
                headers={"Authorization": self._authorization, "Accept": "application/json"},
                # Basic auth on every request: a session cookie would only add state to lose.
                cookie_jar=aiohttp.DummyCookieJar(),
            )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def get(self, path: str) -> Any:
        return await self._send("GET", path, None)

    async def post(self, path: str, body: Any) -> Any:
        return await self._send("POST", path, body)

    async def write(self, path: str, body: Any) -> Any:
        """POST, or PUT once this PBX has answered a POST with 405 Method Not Allowed."""
        method = self._write_method
        try:
            return await self._send(method, path, body)
        except PbxError as exc:
            if exc.status != 405 or method != "POST":
                raise
        log.warning("pbx.write_method", method="PUT", reason="POST answered 405", path=path)
        self._write_method = "PUT"
        return await self._send("PUT", path, body)

    async def _send(self, method: Method, path: str, body: Any) -> Any:
        if method not in ALLOWED_METHODS:
            raise ValueError(f"the Vodia client only reads and writes, never {method}")
        attempt = 0
        while True:
            try:
                async with self._in_flight:
                    return await self._once(method, path, body)
            except _Retryable as exc:
                if attempt >= self._retries:
                    raise TransientError(f"PBX {method} {path}: {exc}") from exc
                delay_s = self._delay_s(attempt, exc.retry_after_s)
                log.info("pbx.retry", method=method, path=path, reason=str(exc), delay_s=delay_s)
                attempt += 1
                metrics.RETRIES.labels(peer="pbx").inc()
                await asyncio.sleep(delay_s)

    async def _once(self, method: Method, path: str, body: Any) -> Any:
        if self._session is None:
            raise RuntimeError("use the Vodia client as an async context manager")
        started_s = time.monotonic()
        try:
            async with self._session.request(
                method, f"{self._base_url}{path}", json=body
            ) as response:
                text = await response.text()
                status = response.status
                retry_after = response.headers.get("Retry-After")
        except _NETWORK_ERRORS as exc:
            _count_request("error", started_s)
            raise _Retryable(type(exc).__name__) from exc
        _count_request(str(status), started_s)
        if status in _RETRY_STATUSES:
            raise _Retryable(f"HTTP {status}", _parse_retry_after(retry_after))
        if status >= 400:
            raise _error_for(status, method, path)
        return _parse_json(text, method, path)

    def _delay_s(self, attempt: int, retry_after_s: float | None) -> float:
        if retry_after_s is not None:
            return min(retry_after_s, _MAX_RETRY_AFTER_S)
        ceiling = min(self._backoff_max_s, self._backoff_s * 2**attempt)
        return random.uniform(ceiling / 2, ceiling)


def _count_request(status: str, started_s: float) -> None:
    metrics.PBX_REQUESTS.labels(status=status).inc()
    metrics.PBX_LATENCY.observe(time.monotonic() - started_s)


def _error_for(status: int, method: str, path: str) -> PbxError:
    # The PBX's error bodies are undocumented; the status alone decides.
    message = f"PBX {method} {path} answered {status}"
    if status == 401:
        return PbxAuthError(f"{message}: wrong PBX credentials", status=status)
    if status == 403:
        return PbxForbiddenError(f"{message}: no access (scope or API access)", status=status)
    if status == 404:
        return PbxNotFoundError(message, status=status)
    return PbxError(message, status=status)


def _parse_json(text: str, method: str, path: str) -> Any:
    if not text.strip():
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        if method != "GET":
            # Some builds answer a write with plain text ("ok"); the caller reads back.
            return None
        raise PbxError(f"PBX {method} {path} answered non-JSON", status=200) from None


def _parse_retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None
