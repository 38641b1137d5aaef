"""The validation handshake Graph runs against notification URLs before creating a
subscription (graph-api.md §3.2)."""

from __future__ import annotations

import asyncio
import uuid
from http import HTTPStatus
from urllib.parse import quote

import aiohttp

from .errors import GraphError

_FAILED = "Subscription validation request failed."
_NOT_200 = "Notification endpoint must respond with 200 OK to validation request."
_MISMATCH = f"{_FAILED} Response must exactly match validationToken query parameter."
_TIMED_OUT = "Subscription validation request timed out."
# What Graph answered when it could not set up TLS with a notification endpoint
# (learn.microsoft.com/answers/questions/5761692, 2026-02). The wording for an untrusted
# certificate in particular is not published; the product branches on the code only.
_TLS_FAILED = (
    "HttpRequestException: An error occurred while sending the request. WebException: "
    "The request was aborted: Could not create SSL/TLS secure channel."
)


def new_validation_token() -> str:
    # Real tokens contain spaces and colons, which catches endpoints that echo the
    # still-encoded query value.
    return (
        "Validation: Testing client application reachability for subscription "
        f"Request-Id: {uuid.uuid4()}"
    )


async def validate_endpoint(session: aiohttp.ClientSession, url: str, timeout_s: float) -> None:
    token = new_validation_token()
    separator = "&" if "?" in url else "?"
    target = f"{url}{separator}validationToken={quote(token, safe='')}"
    headers = {"Content-Type": "text/plain; charset=utf-8"}
    try:
        async with asyncio.timeout(timeout_s):
            async with session.post(target, data=b"", headers=headers) as response:
                status = response.status
                body = await response.text()
    except TimeoutError:
        raise GraphError(400, "InvalidRequest", _TIMED_OUT) from None
    except aiohttp.ClientSSLError:
        raise GraphError(400, "ValidationError", _TLS_FAILED) from None
    except (aiohttp.ClientError, UnicodeDecodeError):
        message = f"{_FAILED} An error occurred while sending the request."
        raise GraphError(400, "InvalidRequest", message) from None
    if status != 200:
        # Graph names the status like .NET's HttpStatusCode: 'Forbidden', 'NotFound', …
        try:
            name = HTTPStatus(status).phrase.replace(" ", "").replace("-", "")
        except ValueError:
            name = str(status)
        message = f"{_FAILED} HTTP status code is '{name}'. {_NOT_200}"
        raise GraphError(400, "ValidationError", message)
    if body != token:
        raise GraphError(400, "ValidationError", _MISMATCH)
