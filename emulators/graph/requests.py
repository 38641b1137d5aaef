"""A count of Graph API requests by method, for tests that must prove the product only read
(the PBX emulator keeps the same count). A test instrument, not Microsoft behaviour."""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class RequestCounter:
    def __init__(self) -> None:
        self.by_method: Counter[str] = Counter()

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        # Only the Graph API (/v1.0/...): token requests and the control API are not Graph.
        if request.path.startswith("/v1.0/"):
            self.by_method[request.method] += 1
        return await handler(request)
