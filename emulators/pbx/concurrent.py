"""A fault the shared injector cannot make: another administrator (or tool) creates an
account on the PBX while our client is working, between its list read and its write.

A rule names a request path pattern and the account to create; the account appears just
before the first matching request is handled, as if it had been created a moment earlier.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from aiohttp import web

from emulators.pbx.http import STATE_KEY, Handler, tenant_of


@dataclass(slots=True)
class ConcurrentAccountRule:
    pattern: re.Pattern[str]
    number: str
    usertype: str
    display: str = ""
    fired: bool = False


class ConcurrentAccounts:
    def __init__(self) -> None:
        self.rules: list[ConcurrentAccountRule] = []

    def add(
        self, path_pattern: str, number: str, usertype: str, display: str = ""
    ) -> ConcurrentAccountRule:
        rule = ConcurrentAccountRule(re.compile(path_pattern), number, usertype, display)
        self.rules.append(rule)
        return rule

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith("/rest/domain/"):
            for rule in self.rules:
                if not rule.fired and rule.pattern.search(request.path):
                    rule.fired = True
                    tenant = tenant_of(request)
                    account = request.app[STATE_KEY].add_account(
                        rule.number, rule.usertype, domain=tenant.name
                    )
                    if account is not None and rule.display:
                        account.settings["display_name"] = rule.display
        return await handler(request)
