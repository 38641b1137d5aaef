"""Graph's error shape: `{"error":{"code","message","innerError":{"date","request-id",...}}}`.

Handlers raise `GraphError`; the middleware in `server.py` turns it into this body so
every refusal looks like the real service's, including the fault injector's.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# The codes Graph puts on injected-looking failures, by status.
_CODE_BY_STATUS = {
    400: "BadRequest",
    401: "InvalidAuthenticationToken",
    403: "Authorization_RequestDenied",
    404: "Request_ResourceNotFound",
    410: "resyncRequired",
    429: "TooManyRequests",
    500: "generalException",
    502: "BadGateway",
    503: "serviceNotAvailable",
    504: "GatewayTimeout",
}


class GraphError(Exception):
    """A refusal with Graph's status, code and message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


def not_found(object_id: str) -> GraphError:
    return GraphError(
        404,
        "Request_ResourceNotFound",
        f"Resource '{object_id}' does not exist or one of its queried reference-property "
        "objects are not present.",
    )


def bad_request(message: str, code: str = "Request_BadRequest") -> GraphError:
    return GraphError(400, code, message)


def error_response(
    status: int,
    code: str,
    message: str,
    client_request_id: str | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    request_id = str(uuid.uuid4())
    body = {
        "error": {
            "code": code,
            "message": message,
            "innerError": {
                "date": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()),
                "request-id": request_id,
                "client-request-id": client_request_id or request_id,
            },
        }
    }
    response = web.json_response(body, status=status, headers=headers)
    response.headers["request-id"] = request_id
    response.headers["client-request-id"] = client_request_id or request_id
    return response


def fault_body(status: int, message: str) -> web.Response:
    """The `error_body` callable the fault injector uses for injected statuses."""
    code = _CODE_BY_STATUS.get(status, "UnknownError")
    if status == 429:
        message = "Too many requests. Please try again later."
    elif status == 503:
        message = "The service is temporarily unavailable. Please try again later."
    return error_response(status, code, message)


@web.middleware
async def graph_error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except GraphError as exc:
        return error_response(
            exc.status, exc.code, exc.message, request.headers.get("client-request-id")
        )
    except web.HTTPNotFound:
        if not request.path.startswith("/v1.0/"):
            raise
        segment = request.path.rstrip("/").rsplit("/", 1)[-1]
        return error_response(400, "BadRequest", f"Resource not found for the segment '{segment}'.")
    except web.HTTPMethodNotAllowed:
        if not request.path.startswith("/v1.0/"):
            raise
        return error_response(
            405,
            "Request_BadRequest",
            "Specified HTTP method is not allowed for the request target.",
        )
