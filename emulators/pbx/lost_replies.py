"""A fault the shared injector cannot make: the PBX applies a write, then the reply is lost.

The connection is aborted after the handler ran, so a client that retries sends the
same write twice (e.g. `addacc`, a duplicate the second time).
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass

from aiohttp import web

from emulators.pbx.http import Handler


@dataclass(slots=True)
class LostReplyRule:
    pattern: re.Pattern[str]
    count: int
    hits: int = 0


class LostReplies:
    def __init__(self) -> None:
        self.rules: list[LostReplyRule] = []

    def add(self, path_pattern: str, count: int = 1) -> LostReplyRule:
        rule = LostReplyRule(re.compile(path_pattern), count)
        self.rules.append(rule)
        return rule

    def _take(self, path: str) -> bool:
        for rule in self.rules:
            if rule.count != 0 and rule.pattern.search(path):
                rule.hits += 1
                rule.count -= 1 if rule.count > 0 else 0
                return True
        return False

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        response = await handler(request)
        if request.path.startswith("/rest/") and self._take(request.path):
            if request.transport is not None:
                request.transport.abort()
            raise asyncio.CancelledError
        return response
