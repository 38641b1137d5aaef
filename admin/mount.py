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
    the application's own 405).

    aiohttp asks every such rule before the parent's own routes, on every request. A
    Graph notification would pay for two full resolutions by the admin's routers, and
    the 404 each builds, so a path whose first segment none of the child's routes starts
    with is refused at once (unless a route starts with a variable)."""

    def __init__(self, app: web.Application) -> None:
        self._app = app
        self._heads: frozenset[str] | None = None
        self._any_head = False

    async def match(self, request: web.Request) -> bool:
        if self._heads is None:
            self._learn_heads()
        if not self._any_head and _head(request.rel_url.path_safe) not in (self._heads or ()):
            return False
        found = await self._app.router.resolve(request)
        exc = found.http_exception
        return exc is None or isinstance(exc, web.HTTPMethodNotAllowed)

    def _learn_heads(self) -> None:
        # Routes are complete once requests arrive (the application is frozen then).
        heads = {_head(resource.canonical) for resource in self._app.router.resources()}
        self._any_head = any("{" in head for head in heads)
        self._heads = frozenset(heads)

    def get_info(self) -> _InfoDict:
        return {"app": self._app}

    @property
    def canonical(self) -> str:
        return "<own routes>"


def _head(path: str) -> str:
    """The first segment of a path ("" for "/")."""
    return path.lstrip("/").split("/", 1)[0]


def mount(parent: web.Application, child: web.Application) -> None:
    """Serve `child`'s routes from `parent`'s root; its startup and cleanup run with the
    parent's. (`_add_subapp` is the step `add_domain` and `add_subapp` share: it registers
    the resource and the child's signals and freezes the child with the parent.)"""
    parent._add_subapp(partial(MatchedSubAppResource, OwnRoutes(child), child), child)
