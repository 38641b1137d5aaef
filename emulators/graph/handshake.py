"""The validation handshake Graph runs against notification URLs before creating a
subscription (graph-api.md §3.2)."""

from __future__ import annotations

import asyncio
import uuid
from urllib.parse import quote

import aiohttp

from .errors import GraphError

_NOT_200 = (
    "Subscription validation request failed. Notification endpoint must respond with "
    "200 OK to validation request."
)
_MISMATCH = (
    "Subscription validation request failed. Response must exactly match validationToken "
    "query parameter."
)
_TIMED_OUT = "Subscription validation request timed out."


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
    except (aiohttp.ClientError, UnicodeDecodeError):
        raise GraphError(400, "ValidationError", _NOT_200) from None
    if status != 200:
        raise GraphError(400, "ValidationError", _NOT_200)
    if body != token:
        raise GraphError(400, "ValidationError", _MISMATCH)
