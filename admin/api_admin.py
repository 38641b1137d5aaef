"""Daemon-administrator API: add links, issue and revoke API tokens."""

from __future__ import annotations

import secrets
import time

from aiohttp import web

from admin.api import error_response, json_body
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


async def post_link(request: web.Request) -> web.Response:
    require_daemon_admin(request)
    body = await json_body(request)
    missing = [k for k in _REQUIRED if not isinstance(body.get(k), str) or not body[k].strip()]
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
            authority_url=str(body.get("authority_url") or "https://login.microsoftonline.com"),
            graph_url=str(body.get("graph_url") or "https://graph.microsoft.com"),
            ca_bundle=str(body["ca_bundle"]) if body.get("ca_bundle") else None,
            settings=dict(body.get("settings") or {}),
        )
        link = await add_link(
            request.config_dict[DB],
            new,
            pbx_password=body["pbx_password"],
            client_secret=str(body.get("client_secret") or "") or None,
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
    name = str((await json_body(request)).get("name") or "").strip()[:100]
    if not name:
        return error_response("name the token (what uses it)", 422, field="name")
    token = new_api_token()
    stored = ApiToken(secrets.token_hex(8), name, token_hash(token), time.time())
    await add_api_token(request.config_dict[DB], stored)
    return web.json_response({"id": stored.id, "name": name, "token": token}, status=201)


async def delete_token(request: web.Request) -> web.Response:
    _token_admin(request)
    if not await delete_api_token(request.config_dict[DB], request.match_info["token_id"]):
        return error_response("no such token", 404)
    return web.json_response({"deleted": True})
