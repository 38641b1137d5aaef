"""OData query options shared by the list endpoints: `$top`, `$skiptoken`, links."""

from __future__ import annotations

import base64
from urllib.parse import urlencode

from aiohttp import web

from .context import origin
from .errors import GraphError, bad_request

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 999
_UNSUPPORTED = ("$search", "$orderby", "$skip", "$expand")


def page_size(request: web.Request, default: int = DEFAULT_PAGE_SIZE) -> int:
    raw = request.query.get("$top")
    if raw is None:
        return default
    try:
        top = int(raw)
    except ValueError:
        raise bad_request(f"Invalid value '{raw}' for query option $top.") from None
    if not 1 <= top <= MAX_PAGE_SIZE:
        raise GraphError(
            400,
            "Request_UnsupportedQuery",
            f"Invalid page size specified: '{top}'. Must be between 1 and 999 inclusive.",
        )
    return top


def refuse_unsupported(request: web.Request) -> None:
    for option in _UNSUPPORTED:
        if option in request.query:
            raise GraphError(
                400, "Request_UnsupportedQuery", f"The query option '{option}' is not supported."
            )


def encode_skiptoken(value: str) -> str:
    return base64.urlsafe_b64encode(value.encode()).decode().rstrip("=")


def decode_skiptoken(request: web.Request) -> str | None:
    raw = request.query.get("$skiptoken")
    if raw is None:
        return None
    try:
        return base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode()
    except ValueError:
        raise bad_request("Invalid skip token.", code="Request_BadRequest") from None


def link(request: web.Request, **replace: str) -> str:
    """The request's absolute URL with its query options kept and some replaced."""
    params = {k: v for k, v in request.query.items() if k not in replace}
    params.update(replace)
    query = urlencode(params, safe="$,'")
    return f"{origin(request)}{request.path}?{query}"


def metadata_context(request: web.Request, entity_set: str) -> str:
    return f"{origin(request)}/v1.0/$metadata#{entity_set}"


def next_page_link(request: web.Request, last_id: str) -> str:
    return link(request, **{"$skiptoken": encode_skiptoken(last_id)})
