"""One way in for what a request carries: headers, bodies, JSON and forms.

Every route that reads a body goes through `read_body` (size cap, read deadline, no
compression), and then `read_json` (edge.safejson) or `read_form` (strict UTF-8
percent-decoding). A malformed request raises `BadInput`; the `input_guard` middleware
answers it with a 4xx (400, 408, 413 or 415), counts it by surface and reason, and logs one
line without the body. No malformed input reaches a handler's logic, the database, a hash or
a comparison, so none can end in a traceback and a 500.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import structlog
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from multidict import MultiDict, MultiDictProxy, MultiMapping

from edge import safejson
from worker.metrics import REFUSED_REQUESTS

log = structlog.get_logger("m365sync.webhook")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

MAX_BODY_BYTES = 1024 * 1024
# The whole body must arrive within this time once the handler asks for it. Graph gives up
# on a delivery after about 3 s (research/graph-api.md), our pages send a few KiB; a body
# trickled slower than this is a slow-loris, not a client.
BODY_READ_TIMEOUT_S = 10.0
MAX_FORM_FIELDS = 200
FORM_TYPE = "application/x-www-form-urlencoded"
_IDENTITY = frozenset({"", "identity"})
_BODY = web.RequestKey("input_body", bytes)
_FORM = web.RequestKey("input_form", MultiDictProxy)


@dataclass(frozen=True, slots=True)
class InputLimits:
    max_body_bytes: int = MAX_BODY_BYTES
    read_timeout_s: float = BODY_READ_TIMEOUT_S


INPUT_LIMITS = web.AppKey("input_limits", InputLimits)


class BadInput(Exception):
    """A request we refuse as malformed. `reason` is a metric label (a fixed word);
    `message` is for the client and the log and never echoes the input."""

    def __init__(self, status: int, reason: str, message: str, *, field: str | None = None):
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.message = message
        self.field = field


def surface(path: str) -> str:
    """The part of the HTTP surface a path belongs to (a bounded metric label)."""
    if path.startswith("/graph/"):
        return "graph"
    if path.startswith("/auth/"):
        return "oauth"
    if path.startswith("/api/"):
        return "api"
    if path == "/login":
        return "login"
    return "page"


@web.middleware
async def input_guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        _check_head(request)
        return await handler(request)
    except BadInput as exc:
        return refusal(request, exc)


def refusal(request: web.Request, exc: BadInput) -> web.Response:
    where = surface(request.path)
    REFUSED_REQUESTS.labels(surface=where, reason=exc.reason).inc()
    log.warning(
        "request.refused", surface=where, reason=exc.reason, status=exc.status, error=exc.message
    )
    response: web.Response
    if where in ("graph", "api"):
        payload: dict[str, Any] = {"error": exc.message}
        if exc.field is not None:
            payload["field"] = exc.field
        response = web.json_response(payload, status=exc.status)
    else:
        response = web.Response(status=exc.status, text=exc.message)
    if not request.content.is_eof():
        _discard_rest(request, response, at_once=exc.status == 408)
    return response


def _discard_rest(request: web.Request, response: web.Response, *, at_once: bool) -> None:
    """What is left of the body is not wanted: read no more of it (no decompression, no
    trickle), and close the connection after this answer instead of keeping it alive.

    aiohttp then waits up to its lingering time (10 s, no handler, nothing read) so the
    client can read the answer before the close. A slow-loris gets no such grace (`at_once`),
    and neither does a body aiohttp already failed on (bad gzip, broken framing): its
    lingering read would raise that failure again and log a traceback.
    """
    response.force_close()
    request.protocol.close()
    if at_once or request.content.exception() is not None:
        request.content.feed_eof()


def _check_head(request: web.Request) -> None:
    encoding = request.headers.get("Content-Encoding", "").strip().lower()
    if request.body_exists and encoding not in _IDENTITY:
        # Graph posts notifications as plain JSON (Microsoft Learn, "Receive change
        # notifications through webhooks" and changeNotificationCollection: no compression
        # is described), browsers never compress form posts or fetch bodies, and a
        # compressed body can expand far beyond what was sent (a gzip bomb).
        raise BadInput(
            415,
            "content_encoding",
            "Content-Encoding is not accepted; send the body uncompressed",
        )
    # aiohttp decodes header bytes that are not UTF-8 as lone surrogates, which fail later
    # in any encode (hashing a token, comparing a CSRF token): refuse them here, once.
    if not _is_text(request.path) or not _is_text(request.query_string):
        raise BadInput(400, "bad_url", "the URL is not UTF-8 text")
    for name, value in request.headers.items():
        if not _is_text(name) or not _is_text(value):
            raise BadInput(400, "bad_header", "a request header is not UTF-8 text")


def _is_text(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _limits(request: web.Request) -> InputLimits:
    return request.app.get(INPUT_LIMITS) or InputLimits()


def _too_large(limit: int) -> BadInput:
    return BadInput(413, "too_large", f"the body is larger than {limit} bytes")


def _check_declared_size(request: web.Request) -> None:
    limit = _limits(request).max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        raise _too_large(limit)


async def read_body(request: web.Request) -> bytes:
    """The whole body, read once (later calls return the same bytes)."""
    cached = request.get(_BODY)
    if isinstance(cached, bytes):
        return cached
    _check_declared_size(request)
    limits = _limits(request)
    limit = limits.max_body_bytes
    too_large = _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(limits.read_timeout_s):
            async for chunk in request.content.iter_chunked(64 * 1024):
                size += len(chunk)
                if size > limit:
                    raise too_large
                chunks.append(chunk)
    except TimeoutError:
        raise BadInput(
            408, "read_timeout", f"the body did not arrive within {limits.read_timeout_s:g} s"
        ) from None
    except (web.RequestPayloadError, HttpProcessingError, ConnectionError):
        # A body shorter than its Content-Length (the client closed early), broken
        # chunked framing, ...: counted like any refusal, even if no one reads the answer.
        raise BadInput(400, "incomplete_body", "the body is incomplete or badly framed") from None
    body = b"".join(chunks)
    request[_BODY] = body
    return body


def _media_type_ok(request: web.Request, expected: Callable[[str], bool]) -> bool:
    if "Content-Type" not in request.headers:
        return True  # RFC 9110 8.3: the recipient may assume a type; we read ours
    charset = (request.charset or "utf-8").lower()
    return expected(request.content_type.lower()) and charset in ("utf-8", "utf8")


def _is_json_type(media_type: str) -> bool:
    return media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )


async def read_json(request: web.Request) -> Any:
    """The body decoded by edge.safejson; None for an empty body."""
    _check_declared_size(request)
    if request.body_exists and not _media_type_ok(request, _is_json_type):
        raise BadInput(415, "unsupported_media", "send the body as application/json (UTF-8)")
    body = await read_body(request)
    if not body.strip():
        return None
    try:
        return safejson.loads(body)
    except safejson.JsonRefused as exc:
        raise BadInput(400, "bad_json", f"the body is not acceptable JSON: {exc}") from None


async def read_json_object(request: web.Request, *, empty_ok: bool = False) -> dict[str, Any]:
    value = await read_json(request)
    if value is None and empty_ok:
        return {}
    if not isinstance(value, dict):
        raise BadInput(400, "bad_json", "the body must be a JSON object")
    return value


async def read_form(request: web.Request, *, unique: bool = False) -> MultiDictProxy[str]:
    """An application/x-www-form-urlencoded body (the only kind our pages and Microsoft's
    form_post send), percent-decoded as strict UTF-8. With `unique`, a repeated field is
    refused, so what we check is what the handler uses."""
    cached = request.get(_FORM)
    if isinstance(cached, MultiDictProxy):
        form: MultiDictProxy[str] = cached
    else:
        form = await _parse_form(request)
        request[_FORM] = form
    if unique and len(set(form.keys())) != len(form):
        raise BadInput(400, "bad_form", "a form field is repeated")
    return form


async def _parse_form(request: web.Request) -> MultiDictProxy[str]:
    _check_declared_size(request)
    is_form = _media_type_ok(request, lambda media_type: media_type == FORM_TYPE)
    body = await read_body(request) if request.body_exists else b""
    if not body:
        return MultiDictProxy(MultiDict())
    if not is_form or "Content-Type" not in request.headers:
        raise BadInput(415, "unsupported_media", f"send the form as {FORM_TYPE} (UTF-8)")
    try:
        pairs = parse_qsl(
            body.decode("utf-8"),
            keep_blank_values=True,
            encoding="utf-8",
            errors="strict",
            max_num_fields=MAX_FORM_FIELDS,
        )
    except UnicodeDecodeError:
        raise BadInput(400, "bad_form", "the form is not UTF-8 text") from None
    except ValueError:
        raise BadInput(
            400, "bad_form", f"the form has more than {MAX_FORM_FIELDS} fields"
        ) from None
    return MultiDictProxy(MultiDict(pairs))


def whole_number(text: object, *, max_digits: int = 18) -> int | None:
    """`text` as a non-negative whole number, or None. str.isdigit alone is not enough:
    it accepts "²" and other digits that int() refuses, and any length."""
    if isinstance(text, str) and text.isascii() and text.isdigit() and len(text) <= max_digits:
        return int(text)
    return None


def small_int(text: str) -> int:
    """int(text) for at most 18 ASCII digits, so it fits SQLite's INTEGER (an id past 2**63
    raises OverflowError in the store); ValueError otherwise."""
    digits = text.strip().lstrip("+-")
    if not digits.isascii() or len(digits) > 18:
        raise ValueError(f"not a whole number of at most 18 digits: {text[:20]!r}")
    return int(text)


def query_params(request: web.Request, *, unique: bool = False) -> MultiMapping[str]:
    """The query string (yarl has replaced bytes that are not UTF-8 with U+FFFD)."""
    query = request.query
    if unique and len(set(query.keys())) != len(query):
        raise BadInput(400, "bad_query", "a query parameter is repeated")
    return query
