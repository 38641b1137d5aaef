"""Turning a Graph error response into the worker's error tree.

Graph documents `{"error": {"code", "message", "innerError": {"request-id", "date"}}}`,
but the casing of `innerError` varies, inner errors nest, gateways answer with HTML and
the token endpoint's OAuth shape (`error` as a string) leaks through on some 401s.
So the body is read leniently and only `code` is ever branched on, never `message`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from worker.errors import (
    GraphError,
    PageTokenExpired,
    ResyncRequired,
    SyncError,
    ThrottledError,
    TransientError,
)
from worker.graph.retry import parse_retry_after_s

# Graph's ways of saying "your delta token is no good, start again".
RESYNC_CODES = frozenset({"syncstatenotfound", "resyncrequired", "syncstateinvalid"})
# A skip token that expired mid-round; the round starts again from its deltaLink.
EXPIRED_PAGE_CODES = frozenset({"directory_expiredpagetoken"})

_MAX_INNER_DEPTH = 5
_MAX_MESSAGE_CHARS = 500


@dataclass(frozen=True, slots=True)
class GraphErrorBody:
    """What we could read from an error response; `codes` lists outer then nested codes."""

    code: str
    message: str
    request_id: str | None
    codes: tuple[str, ...] = ()


def _get_ci(mapping: Mapping[str, Any], *names: str) -> Any:
    """First value whose key matches one of `names`, ignoring case."""
    wanted = {name.lower() for name in names}
    for key, value in mapping.items():
        if isinstance(key, str) and key.lower() in wanted:
            return value
    return None


def _load_json(body: bytes) -> Any:
    try:
        return json.loads(body.decode("utf-8", errors="replace")) if body else None
    except ValueError:
        return None


def _inner_chain(error: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    chain = [error]
    current: Any = error
    for _ in range(_MAX_INNER_DEPTH):
        current = _get_ci(current, "innerError")
        if not isinstance(current, Mapping):
            break
        chain.append(current)
    return chain


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def parse_error_body(body: bytes, headers: Mapping[str, str]) -> GraphErrorBody:
    """Read Graph's error body, tolerating missing fields, other shapes and non-JSON."""
    header_request_id = headers.get("request-id") or headers.get("client-request-id")
    document = _load_json(body)
    error = _get_ci(document, "error") if isinstance(document, Mapping) else None
    if isinstance(error, str):  # OAuth shape: {"error": "invalid_token", "error_description": …}
        description = _text(_get_ci(document, "error_description")) if document else ""
        return GraphErrorBody(error, description[:_MAX_MESSAGE_CHARS], header_request_id, (error,))
    if not isinstance(error, Mapping):
        snippet = body[:200].decode("utf-8", errors="replace").strip()
        return GraphErrorBody("", snippet, header_request_id)
    chain = _inner_chain(error)
    codes = tuple(code for code in (_text(_get_ci(e, "code")) for e in chain) if code)
    request_ids = (_text(_get_ci(e, "request-id", "requestId")) for e in chain)
    request_id = next((rid for rid in request_ids if rid), None)
    return GraphErrorBody(
        code=codes[0] if codes else "",
        message=_text(_get_ci(error, "message"))[:_MAX_MESSAGE_CHARS],
        request_id=request_id or header_request_id,
        codes=codes,
    )


def is_resync(parsed: GraphErrorBody) -> bool:
    return any(code.lower() in RESYNC_CODES for code in parsed.codes)


def error_for_response(
    status: int, headers: Mapping[str, str], body: bytes, *, what: str
) -> SyncError:
    """The exception a non-success response stands for; `what` is "METHOD /path"."""
    parsed = parse_error_body(body, headers)
    if status == 410:
        location = headers.get("Location", "")
        return ResyncRequired(f"{what}: 410 Gone, delta state reset (Location: {location})")
    if 400 <= status < 500 and is_resync(parsed):
        return ResyncRequired(f"{what}: {status} {parsed.code}: {parsed.message}")
    if 400 <= status < 500 and any(c.lower() in EXPIRED_PAGE_CODES for c in parsed.codes):
        return PageTokenExpired(f"{what}: {status} {parsed.code}: {parsed.message}")
    retry_after_s = parse_retry_after_s(headers.get("Retry-After"))
    if status == 429 or (status in (503, 504) and retry_after_s is not None):
        return ThrottledError(f"{what}: {status} {parsed.code or 'throttled'}", retry_after_s)
    if status >= 500 and status != 501:
        return TransientError(f"{what}: {status} {parsed.code or 'server error'}")
    code = parsed.code or f"http{status}"
    message = parsed.message or f"unexpected status {status}"
    return GraphError(status, code, message, parsed.request_id)
