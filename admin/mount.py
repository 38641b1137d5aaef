"""Mounting an application under another at the root, for the paths it routes.

aiohttp's `add_subapp` needs a prefix, and the admin page's URLs (`/links`, `/api/...`,
`/login`, the `/auth/...` redirect targets registered in Entra) have none in common. A
`MatchedSubAppResource` with a rule that asks the child's own router does the same job:
a request goes to the child exactly when the child has a route for its path, and the
child's middlewares (the admin guard) run only for the child's routes.
"""

from __future__ import annotations

from functools import partial

from aiohttp import web
from aiohttp.web_urldispatcher import AbstractRuleMatching, MatchedSubAppResource, _InfoDict


class OwnRoutes(AbstractRuleMatching):
    """Matches a request whose path the application routes (any method: a wrong one gets
    the application's own 405)."""

    def __init__(self, app: web.Application) -> None:
        self._app = app

    async def match(self, request: web.Request) -> bool:
        found = await self._app.router.resolve(request)
        exc = found.http_exception
        return exc is None or isinstance(exc, web.HTTPMethodNotAllowed)

    def get_info(self) -> _InfoDict:
        return {"app": self._app}

    @property
    def canonical(self) -> str:
        return "<own routes>"


def mount(parent: web.Application, child: web.Application) -> None:
    """Serve `child`'s routes from `parent`'s root; its startup and cleanup run with the
    parent's. (`_add_subapp` is the step `add_domain` and `add_subapp` share: it registers
    the resource and the child's signals and freezes the child with the parent.)"""
    parent._add_subapp(partial(MatchedSubAppResource, OwnRoutes(child), child), child)
