"""Daemon-administrator API: add links, issue and revoke API tokens."""

from __future__ import annotations

import re
import secrets
import time

from aiohttp import web

from admin.api import bad_request, error_response, json_body
from admin.common import require_daemon_admin
from admin.keys import principal_of
from admin.passwords import new_api_token, token_hash
from store.admins import ApiToken, add_api_token, delete_api_token, list_api_tokens
from store.errors import StoreError
from store.models import AuthMode, NewLink
from worker.appkeys import DB
from worker.linkadmin import add_link
from worker.planner import PolicyError
from worker.status import link_status

_REQUIRED = ("name", "tenant_id", "client_id", "pbx_url", "pbx_domain", "pbx_user", "pbx_password")
_OPTIONAL_TEXT = ("auth_mode", "authority_url", "graph_url", "ca_bundle", "client_secret")
MAX_TEXT = 4096
_TOKEN_ID = re.compile(r"[0-9a-f]{16}")


async def post_link(request: web.Request) -> web.Response:
    require_daemon_admin(request)
    body = await json_body(request)
    for key in (*_REQUIRED, *_OPTIONAL_TEXT):
        value = body.get(key)
        if value is not None and (not isinstance(value, str) or len(value) > MAX_TEXT):
            raise bad_request(f"{key} must be text of at most {MAX_TEXT} characters", key)
    settings = body.get("settings")
    if settings is not None and not isinstance(settings, dict):
        raise bad_request("settings must be a JSON object", "settings")
    missing = [k for k in _REQUIRED if not (body.get(k) or "").strip()]
    if missing:
        return error_response(f"missing: {', '.join(missing)}", 422, field=missing[0])
    try:
        mode = AuthMode(body.get("auth_mode") or "delegated")
        new = NewLink(
            name=body["name"].strip()[:100],
            tenant_id=body["tenant_id"].strip(),
            client_id=body["client_id"].strip(),
            auth_mode=mode,
            pbx_url=body["pbx_url"].strip(),
            pbx_domain=body["pbx_domain"].strip(),
            pbx_user=body["pbx_user"].strip(),
            authority_url=body.get("authority_url") or "https://login.microsoftonline.com",
            graph_url=body.get("graph_url") or "https://graph.microsoft.com",
            ca_bundle=body.get("ca_bundle") or None,
            settings=dict(settings or {}),
        )
        link = await add_link(
            request.config_dict[DB],
            new,
            pbx_password=body["pbx_password"],
            client_secret=body.get("client_secret") or None,
        )
    except PolicyError as exc:
        return error_response(exc.message, 422, field=exc.field)
    except (ValueError, StoreError) as exc:
        return error_response(str(exc), 422)
    return web.json_response(
        (await link_status(request.config_dict[DB], link)).to_json(), status=201
    )


def _token_admin(request: web.Request) -> None:
    require_daemon_admin(request)
    if principal_of(request).via != "session":
        raise web.HTTPForbidden(text="API tokens are managed from a signed-in session")


async def get_tokens(request: web.Request) -> web.Response:
    _token_admin(request)
    tokens = await list_api_tokens(request.config_dict[DB])
    return web.json_response(
        {"tokens": [{"id": t.id, "name": t.name, "created_at": t.created_at} for t in tokens]}
    )


async def post_token(request: web.Request) -> web.Response:
    _token_admin(request)
    name = (await json_body(request)).get("name")
    if name is not None and not isinstance(name, str):
        raise bad_request("name must be text", "name")
    name = (name or "").strip()[:100]
    if not name:
        return error_response("name the token (what uses it)", 422, field="name")
    token = new_api_token()
    stored = ApiToken(secrets.token_hex(8), name, token_hash(token), time.time())
    await add_api_token(request.config_dict[DB], stored)
    return web.json_response({"id": stored.id, "name": name, "token": token}, status=201)


async def delete_token(request: web.Request) -> web.Response:
    _token_admin(request)
    token_id = request.match_info["token_id"]
    if not _TOKEN_ID.fullmatch(token_id) or not await delete_api_token(
        request.config_dict[DB], token_id
    ):
        return error_response("no such token", 404)
    return web.json_response({"deleted": True})
