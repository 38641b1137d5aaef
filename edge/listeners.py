"""Two listeners, one application: which one a request came in on, and what each serves.

With M365SYNC_ADMIN_LISTEN the daemon listens twice: the public listener (Graph's
notifications, the OAuth redirects Microsoft sends browsers to, /healthz) and a private
one (the admin page, its API, /readyz, /metrics). Both serve the same application, so
the admin page and the OAuth callbacks share one session store and the engine runs once.

A request's listener is told by the local port its connection arrived on (the socket's
own address, not the Host header, which the client writes). A port that is not one of
the private listener's counts as public, so a request is refused rather than let in
whenever in doubt. Routes are told by the canonical path of the resource the router
matched, so an encoded or oddly spelled path cannot slip past under another name.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware


@dataclass(slots=True)
class Listeners:
    """Whether the daemon is split, and the local ports of the private listener (filled
    in when its socket is bound, before it takes a connection)."""

    split: bool = False
    private_ports: set[int] = field(default_factory=set)

    def add_private(self, addresses: Iterable[object]) -> None:
        for address in addresses:
            if isinstance(address, tuple) and len(address) >= 2:
                self.private_ports.add(int(address[1]))


LISTENERS = web.AppKey("listeners", Listeners)


def on_private(request: web.Request) -> bool:
    """The request came in on the private listener (always true when not split)."""
    listeners = request.config_dict.get(LISTENERS)
    if listeners is None or not listeners.split:
        return True
    transport = request.transport
    sockname = transport.get_extra_info("sockname") if transport is not None else None
    return (
        isinstance(sockname, tuple)
        and len(sockname) >= 2
        and int(sockname[1]) in listeners.private_ports
    )


def split_listeners(request: web.Request) -> bool:
    listeners = request.config_dict.get(LISTENERS)
    return listeners is not None and listeners.split


def route_name(request: web.Request) -> str:
    """The canonical path of the matched resource, else the request's path (404, 405)."""
    route = request.match_info.route
    resource = route.resource if request.match_info.http_exception is None else None
    return resource.canonical if resource is not None else request.path


def listener_filter(public_only: frozenset[str], public_routes: frozenset[str]) -> Middleware:
    """A middleware answering 404 for a route on the wrong listener: on the public one,
    anything not in `public_routes`; on the private one, anything in `public_only`."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if split_listeners(request):
            name = route_name(request)
            allowed = name not in public_only if on_private(request) else name in public_routes
            if not allowed:
                raise web.HTTPNotFound()
        return await handler(request)

    return middleware
