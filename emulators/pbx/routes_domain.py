"""Tenant (domain) endpoints: account lists, user_settings, addacc, domain_action, settings."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from emulators.pbx.accounts import USERTYPES, setting_string
from emulators.pbx.http import (
    STATE_KEY,
    bad_request,
    json_object,
    json_reply,
    not_found,
    tenant_of,
)
from emulators.pbx.state import LimitReached

_NUMBER = re.compile(r"^[0-9A-Za-z_.+-]{1,32}$")
_D = "/rest/domain/{domain}"


async def list_users(request: web.Request) -> web.Response:
    """Every account kind in an array, with real booleans and `usertype`: extensions, hunt
    groups, queues (acds), IVR nodes, conferences, ... (Vodia's OpenAPI v70.3
    `GET /rest/domain/{domain}/users`, and the example of https://api.vodia.com/domains_lists_api,
    whose rows are hunts, attendants, srvflags, conferences, colines, ivrnodes). The
    `truncate_lists` fault cuts the extensions short, as a partial answer would."""
    accounts = list(tenant_of(request).accounts.values())
    kept = request.app[STATE_KEY].quirks.truncated([a for a in accounts if a.is_extension])
    shown = set(map(id, kept))
    return json_reply([a.users_row() for a in accounts if not a.is_extension or id(a) in shown])


async def list_extensions(request: web.Request) -> web.Response:
    tenant = tenant_of(request)
    number = request.query.get("account")
    if number is not None:
        account = tenant.accounts.get(number)
        if account is None or not account.is_extension:
            raise not_found("The id of the User was not found")
        return json_reply({**account.user_settings(), **account.extensions_row()})
    kept = request.app[STATE_KEY].quirks.truncated(tenant.extensions())
    return json_reply({str(a.id): a.extensions_row() for a in kept})


async def list_hunts(request: web.Request) -> web.Response:
    """Vodia's `GET /rest/domain/{d}/hunts` (https://api.vodia.com/hunt_groups_api):
    `[{name, display, agents, calls}]`. A hunt group is changed through its user_settings."""
    hunts = [a for a in tenant_of(request).accounts.values() if a.usertype == "hunts"]
    return json_reply([a.hunts_row() for a in hunts])


async def userlist(request: web.Request) -> web.Response:
    kind = request.match_info["kind"]
    accounts = [a for a in tenant_of(request).accounts.values() if a.usertype == kind]
    return json_reply({"action": "domain-list", "accounts": [a.userlist_row() for a in accounts]})


async def get_user_settings(request: web.Request) -> web.Response:
    account = tenant_of(request).accounts.get(request.match_info["ext"])
    if account is None:
        raise not_found("The id of the User was not found")
    return json_reply(account.user_settings())


async def write_user_settings(request: web.Request) -> web.Response:
    """Partial merge: sent fields change, omitted fields stay. The spec's answer is the
    whole object; other builds answer `{}` or plain text, or normalise values (quirks.py)."""
    _refuse_post_on_legacy_build(request)
    account = tenant_of(request).accounts.get(request.match_info["ext"])
    if account is None:
        raise not_found("The id of the User was not found")
    quirks = request.app[STATE_KEY].quirks
    account.merge(quirks.stored_fields(await json_object(request)))
    if quirks.write_reply == "empty":
        return json_reply({})
    if quirks.write_reply == "text":
        return web.Response(text="ok", content_type="text/plain")
    return json_reply(account.user_settings())


async def add_account(request: web.Request) -> web.Response:
    """Mimics the real server: unknown types and a duplicate number are silent 200 no-ops."""
    _refuse_post_on_legacy_build(request)
    body = await json_object(request)
    usertype = body.get("type")
    if not isinstance(usertype, str) or not usertype:
        raise bad_request("type is required")
    # Extensions take `account_ext`; everything else `account`. The wrong key is ignored.
    raw = body.get("account_ext" if usertype == "extensions" else "account")
    if usertype not in USERTYPES or raw is None:
        return json_reply({})
    numbers = list(dict.fromkeys(part for part in str(raw).split("/") if part))
    if not numbers or not all(_NUMBER.match(number) for number in numbers):
        raise bad_request("invalid account number")
    tenant, state = tenant_of(request), request.app[STATE_KEY]
    fresh = [number for number in numbers if number not in tenant.accounts]
    if len(fresh) < len(numbers) and state.strict_duplicates:
        raise bad_request("Account already exists")
    limit = tenant.max_extensions
    if usertype == "extensions" and limit and tenant.extension_count() + len(fresh) > limit:
        raise bad_request(f"max_extensions ({limit}) reached")
    try:
        for number in fresh:
            state.add_account(number, usertype, domain=tenant.name)
    except LimitReached as exc:
        raise bad_request(str(exc)) from None
    return json_reply({})


async def delete_account(request: web.Request) -> web.Response:
    tenant = tenant_of(request)
    if not request.app[STATE_KEY].remove_account(request.match_info["ext"], tenant.name):
        raise not_found("The id of the User was not found")
    return json_reply({})


async def domain_action(request: web.Request) -> web.Response:
    """Always `{}`: no per-account status, unknown numbers and actions are ignored."""
    _refuse_post_on_legacy_build(request)
    body = await json_object(request)
    selected = str(body.get("selected", "")).split()
    tenant, action = tenant_of(request), body.get("action")
    if action in ("disable_selected", "enable_selected"):
        request.app[STATE_KEY].set_disabled(selected, action == "disable_selected", tenant.name)
    elif action in ("remove_cellphone", "remove_email"):
        field = "cell_dis" if action == "remove_cellphone" else "email_address"
        for number in selected:
            if number in tenant.accounts:
                tenant.accounts[number].settings[field] = ""
    return json_reply({})


def _refuse_post_on_legacy_build(request: web.Request) -> None:
    """Older builds route these writes for PUT only (Vodia's PHP sample; quirks.py)."""
    if request.method == "POST" and request.app[STATE_KEY].quirks.legacy_put:
        raise web.HTTPMethodNotAllowed("POST", ["GET", "PUT"])


async def get_settings(request: web.Request) -> web.Response:
    return json_reply(tenant_of(request).settings)


async def write_settings(request: web.Request) -> web.Response:
    tenant = tenant_of(request)
    for name, value in (await json_object(request)).items():
        tenant.settings[name] = setting_string(value)
    return json_reply(tenant.settings)


async def get_config(request: web.Request) -> web.Response:
    return json_reply(tenant_of(request).config)


async def write_config(request: web.Request) -> web.Response:
    tenant = tenant_of(request)
    for name, value in (await json_object(request)).items():
        tenant.config[name] = _config_value(name, value)
    return json_reply(tenant.config)


def _config_value(name: str, value: Any) -> Any:
    if name in ("alias", "admins"):
        if not isinstance(value, list):
            raise bad_request(f"{name} must be a list")
        return [str(item) for item in value]
    text = setting_string(value)
    if name.startswith("max_") and text and not text.isdigit():
        raise bad_request(f"{name} must be a number")
    return text


def add_domain_routes(app: web.Application) -> None:
    router = app.router
    router.add_get(f"{_D}/users{{s:/?}}", list_users)
    router.add_get(f"{_D}/extensions{{s:/?}}", list_extensions)
    router.add_get(f"{_D}/hunts{{s:/?}}", list_hunts)
    router.add_get(f"{_D}/userlist/{{kind}}{{s:/?}}", userlist)
    settings_path = f"{_D}/user_settings/{{ext}}{{s:/?}}"
    router.add_get(settings_path, get_user_settings)
    router.add_post(settings_path, write_user_settings)
    router.add_put(settings_path, write_user_settings)
    router.add_post(f"{_D}/addacc{{s:/?}}", add_account)
    router.add_put(f"{_D}/addacc{{s:/?}}", add_account)
    router.add_delete(f"{_D}/addacc/{{ext}}{{s:/?}}", delete_account)
    router.add_post(f"{_D}/domain_action{{s:/?}}", domain_action)
    router.add_put(f"{_D}/domain_action{{s:/?}}", domain_action)
    router.add_get(f"{_D}/settings{{s:/?}}", get_settings)
    router.add_post(f"{_D}/settings{{s:/?}}", write_settings)
    router.add_put(f"{_D}/settings{{s:/?}}", write_settings)
    router.add_get(f"{_D}/config{{s:/?}}", get_config)
    router.add_post(f"{_D}/config{{s:/?}}", write_config)
    router.add_put(f"{_D}/config{{s:/?}}", write_config)
