"""Coming back from Microsoft when the admin page has a listener of its own.

With M365SYNC_ADMIN_LISTEN, Microsoft sends the browser back to the OAuth callbacks on
the public listener (the redirect URIs are `{M365SYNC_PUBLIC_URL}/auth/...`), while the
Setup page lives on the private one. The callback does its work there (it authenticates
by the flow's one-time `state`, and both listeners serve one application with one session
store) and then sends the browser back to the origin the admin started the flow from:
first to `/auth/return` on that origin, which needs no session, and from there, by a
navigation that the private origin itself starts, to the Setup page. Two hops because
the SameSite=Strict session cookie is only sent on a navigation started by a page of the
admin's own site, which the public listener's page is not.
"""

from __future__ import annotations

import re
from urllib.parse import quote

from aiohttp import web

from admin.html import page
from admin.sessions import Flow
from edge.inputs import query_params
from edge.listeners import split_listeners

RETURN_PATH = "/auth/return"
# Where /auth/return may send the browser: our own Setup page (no open redirect).
_TARGET = re.compile(r"/links(/\d{1,18}/setup)?")
# A Host header as browsers send it: a name or an IPv4/IPv6 address, and a port.
_HOST = re.compile(r"[A-Za-z0-9.-]{1,253}(:\d{1,5})?|\[[0-9A-Fa-f:.]{2,45}\](:\d{1,5})?")


def flow_origin(request: web.Request) -> str:
    """The origin the admin's browser reached the page at (kept with the flow)."""
    if not split_listeners(request) or not _HOST.fullmatch(request.host):
        return ""
    return f"{request.scheme}://{request.host}"


def return_target(request: web.Request, flow: Flow, target: str) -> str:
    """Where the callback's page sends the browser: `target` itself with one listener,
    the admin origin's /auth/return with two."""
    if not split_listeners(request) or not flow.origin:
        return target
    return f"{flow.origin}{RETURN_PATH}?to={quote(target, safe='/')}"


async def return_page(request: web.Request) -> web.Response:
    """The first page of the admin's own origin after the callback: it only navigates on."""
    target = query_params(request, unique=True).get("to", "")
    if not _TARGET.fullmatch(target):
        target = "/links"
    response = web.Response(
        text=page("bounce.html", target=target, message=""), content_type="text/html"
    )
    response.headers["Referrer-Policy"] = "no-referrer"
    return response
