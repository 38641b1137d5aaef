"""System endpoints: the two session flows, logout, the public capability probe, domains."""

from __future__ import annotations

import json
import re

from aiohttp import web

from emulators.pbx.auth import Principal, unauthorized
from emulators.pbx.http import AUTH_KEY, STATE_KEY, bad_request, json_object, json_reply

_MD5_LOGIN = re.compile(r"^(\S+) ([0-9a-fA-F]{32})$")
_COOKIE_ATTRS = "Path=/; SameSite=Strict; Secure; HttpOnly"


async def session_probe(request: web.Request) -> web.Response:
    """Needs no login and proves nothing about credentials: capability flags only."""
    return json_reply({"version": "70.3", "login": True, "mssign": False, "appstore": {}})


async def md5_login(request: web.Request) -> web.Response:
    """Legacy: {"name":"auth","value":"<user> <md5hex(password)>"} -> quoted session key."""
    body = await json_object(request)
    match = _MD5_LOGIN.match(str(body.get("value", "")))
    if body.get("name") != "auth" or match is None:
        raise bad_request("expected name=auth and value='<user> <md5>'")
    principal = request.app[AUTH_KEY].check_md5(match[1], match[2])
    if principal is None:
        raise unauthorized()
    key = request.app[AUTH_KEY].open_session(principal)
    return _with_cookie(web.Response(text=json.dumps(key), content_type="application/json"), key)


async def session_post(request: web.Request) -> web.Response:
    """Current flow: a system admin gets a 10 s "3rd" token; anyone may exchange it once."""
    body = await json_object(request)
    auth = request.app[AUTH_KEY]
    if body.get("name") == "session":
        key = str(body.get("value", ""))
        if not auth.exchange_token(key):
            return json_reply(False)
        return _with_cookie(json_reply(True), key)
    if body.get("name") != "3rd":
        raise bad_request("name must be 3rd or session")
    caller = auth.from_request(request)
    if caller is None:
        raise unauthorized()
    if not caller.may_use_system():
        raise web.HTTPForbidden(
            text='{"error":"Only the system admin issues tokens"}', content_type="application/json"
        )
    domain = str(body.get("domain", ""))
    if request.app[STATE_KEY].find_tenant(domain) is None:
        raise bad_request("unknown domain")
    return json_reply(auth.issue_token(_token_principal(body, domain)))


async def logout(request: web.Request) -> web.Response:
    key = request.cookies.get("session", "")
    request.app[AUTH_KEY].close_session(key)
    response = json_reply({})
    response.del_cookie("session", path="/")
    return response


async def list_domains(request: web.Request) -> web.Response:
    tenants = request.app[STATE_KEY].tenants.values()
    return json_reply({str(tenant.id): tenant.domain_row() for tenant in tenants})


def _token_principal(body: dict[str, object], domain: str) -> Principal:
    if body.get("admin") in (True, "true"):
        return Principal("tenant", domain)
    if body.get("username"):
        return Principal("user", domain, str(body["username"]))
    return Principal("domain", domain)


def _with_cookie(response: web.Response, key: str) -> web.Response:
    response.headers["Set-Cookie"] = f"session={key}; {_COOKIE_ATTRS}"
    return response


def add_system_routes(app: web.Application) -> None:
    for path in ("/rest/system/session", "/rest/system/session/"):
        app.router.add_get(path, session_probe)
        app.router.add_put(path, md5_login)
        app.router.add_post(path, session_post)
        app.router.add_delete(path, logout)
    app.router.add_get("/rest/system/domains", list_domains)
    app.router.add_get("/rest/system/domains/", list_domains)
