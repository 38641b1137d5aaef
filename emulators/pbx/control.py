"""The emulator's own control API under /_emulator/ (not part of Vodia's API)."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from emulators.clock import Clock
from emulators.faults import FaultInjector, add_control_routes
from emulators.pbx.accounts import USERTYPES
from emulators.pbx.concurrent import ConcurrentAccounts
from emulators.pbx.http import STATE_KEY, bad_request, json_object, json_reply, not_found
from emulators.pbx.lost_replies import LostReplies
from emulators.pbx.seed import seed_extensions

PREFIX = "/_emulator/"
CLOCK_KEY = web.AppKey("pbx_clock", Clock)
FAULTS_KEY = web.AppKey("pbx_faults", FaultInjector)
MAIL_DOMAIN_KEY = web.AppKey("pbx_mail_domain", str)
LOST_REPLIES_KEY = web.AppKey("pbx_lost_replies", LostReplies)
CONCURRENT_KEY = web.AppKey("pbx_concurrent_accounts", ConcurrentAccounts)
_NUMBER = re.compile(r"^[0-9A-Za-z_.+-]{1,32}$")


async def dump_state(request: web.Request) -> web.Response:
    return json_reply(request.app[STATE_KEY].dump())


async def set_latency(request: web.Request) -> web.Response:
    body = await json_object(request)
    try:
        latency_s = (
            float(body["latency_ms"]) / 1000 if "latency_ms" in body else float(body["latency_s"])
        )
    except (KeyError, TypeError, ValueError):
        raise bad_request("latency_s or latency_ms required") from None
    if latency_s < 0:
        raise bad_request("latency must be >= 0")
    request.app[FAULTS_KEY].base_latency_s = latency_s
    return json_reply({"latency_s": latency_s})


async def get_latency(request: web.Request) -> web.Response:
    return json_reply({"latency_s": request.app[FAULTS_KEY].base_latency_s})


async def seed(request: web.Request) -> web.Response:
    body = await json_object(request)
    state = request.app[STATE_KEY]
    domain = _domain(request, body)
    try:
        count, seed_value = int(body.get("count", 0)), int(body.get("seed", 1))
    except (TypeError, ValueError):
        raise bad_request("count and seed must be integers") from None
    created = seed_extensions(
        state,
        count,
        seed=seed_value,
        domain=domain,
        mail_domain=str(body.get("mail_domain", request.app[MAIL_DOMAIN_KEY])),
    )
    return json_reply({"created": len(created), "numbers": [a.number for a in created]})


async def add_extension(request: web.Request) -> web.Response:
    body = await json_object(request)
    number = str(body.pop("number", ""))
    domain = _domain(request, body)
    body.pop("domain", None)
    try:
        account = request.app[STATE_KEY].add_extension(number, domain=domain, **body)
    except (TypeError, ValueError) as exc:
        raise bad_request(str(exc)) from None
    return web.json_response(account.user_settings(), status=201)


async def get_extension(request: web.Request) -> web.Response:
    domain = _domain(request, dict(request.query))
    account = request.app[STATE_KEY].get(request.match_info["number"], domain)
    if account is None:
        raise not_found("no such extension")
    return json_reply({"id": account.id, "usertype": account.usertype, **account.user_settings()})


async def set_quirks(request: web.Request) -> web.Response:
    body = await json_object(request)
    state = request.app[STATE_KEY]
    if "strict_duplicates" in body:
        state.strict_duplicates = bool(body["strict_duplicates"])
    try:
        state.quirks.update(body)
    except ValueError as exc:
        raise bad_request(str(exc)) from None
    return json_reply({"strict_duplicates": state.strict_duplicates, **state.quirks.dump()})


async def advance_clock(request: web.Request) -> web.Response:
    body = await json_object(request)
    try:
        now = request.app[CLOCK_KEY].advance(float(body.get("seconds", 0)))
    except (TypeError, ValueError) as exc:
        raise bad_request(str(exc)) from None
    return json_reply({"now": now})


async def lose_replies(request: web.Request) -> web.Response:
    """The next `count` matching requests are applied, then their replies are lost."""
    body = await json_object(request)
    try:
        rule = request.app[LOST_REPLIES_KEY].add(str(body["path"]), int(body.get("count", 1)))
    except (KeyError, TypeError, ValueError, re.error) as exc:
        raise bad_request(f"bad rule: {exc}") from None
    return web.json_response({"path": rule.pattern.pattern, "count": rule.count}, status=201)


def _account_fields(body: dict[str, Any]) -> tuple[str, str, str]:
    number, usertype = str(body.get("number", "")), str(body.get("usertype", ""))
    if not _NUMBER.match(number):
        raise bad_request("number is required")
    if usertype not in USERTYPES:
        raise bad_request(f"usertype must be one of {sorted(USERTYPES)}")
    return number, usertype, str(body.get("display", ""))


async def add_account(request: web.Request) -> web.Response:
    """Any kind of account (a hunt group, a conference room, ...) at a number."""
    body = await json_object(request)
    number, usertype, display = _account_fields(body)
    account = request.app[STATE_KEY].add_account(number, usertype, domain=_domain(request, body))
    if account is None:
        raise bad_request(f"account {number} exists")
    if display:
        account.settings["display_name"] = display
    return web.json_response({"id": account.id, "usertype": usertype, "number": number}, status=201)


async def add_concurrent_account(request: web.Request) -> web.Response:
    """Just before the first request matching `path`, the account appears (another admin
    created it while our client was between its list read and its write)."""
    body = await json_object(request)
    number, usertype, display = _account_fields(body)
    try:
        rule = request.app[CONCURRENT_KEY].add(str(body["path"]), number, usertype, display)
    except (KeyError, re.error) as exc:
        raise bad_request(f"bad rule: {exc}") from None
    return web.json_response(
        {"path": rule.pattern.pattern, "number": number, "usertype": usertype}, status=201
    )


def _domain(request: web.Request, body: dict[str, Any]) -> str:
    state = request.app[STATE_KEY]
    name = str(body.get("domain") or state.default_domain)
    if state.find_tenant(name) is None:
        raise not_found(f"no domain {name}")
    return name


def add_routes(app: web.Application, faults: FaultInjector) -> None:
    add_control_routes(app, faults, PREFIX)
    router = app.router
    router.add_get(f"{PREFIX}state", dump_state)
    router.add_get(f"{PREFIX}latency", get_latency)
    router.add_post(f"{PREFIX}latency", set_latency)
    router.add_post(f"{PREFIX}seed", seed)
    router.add_post(f"{PREFIX}extensions", add_extension)
    router.add_get(f"{PREFIX}extensions/{{number}}", get_extension)
    router.add_post(f"{PREFIX}quirks", set_quirks)
    router.add_post(f"{PREFIX}clock/advance", advance_clock)
    router.add_post(f"{PREFIX}lost_replies", lose_replies)
    router.add_post(f"{PREFIX}accounts", add_account)
    router.add_post(f"{PREFIX}concurrent_accounts", add_concurrent_account)
