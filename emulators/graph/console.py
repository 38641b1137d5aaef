"""The directory console: `GET /console`, a self-contained page for people running the
demo, and the unauthenticated JSON endpoints it calls under `/_emulator/console/`.

Only registered when the control API is enabled. The page builds every cell with
`textContent`, so names like `<script>` stay text.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .console_page import CONSOLE_HTML
from .context import CONTEXT
from .control import json_object
from .directory import Directory

CONSOLE_FIELDS = (
    "id",
    "displayName",
    "givenName",
    "surname",
    "mail",
    "userPrincipalName",
    "businessPhones",
    "mobilePhone",
    "accountEnabled",
    "userType",
    "department",
    "jobTitle",
    "deletedDateTime",
)
MAX_PAGE = 200


def _view(props: dict[str, Any]) -> dict[str, Any]:
    return {name: props.get(name) for name in CONSOLE_FIELDS}


def _matches(props: dict[str, Any], needle: str) -> bool:
    for name in ("displayName", "mail", "userPrincipalName", "id"):
        value = props.get(name)
        if isinstance(value, str) and needle in value.lower():
            return True
    return False


def _directory(request: web.Request) -> Directory:
    return request.app[CONTEXT].directory


def _int_query(request: web.Request, name: str, default: int, upper: int) -> int:
    raw = request.query.get(name, "")
    return max(0, min(int(raw), upper)) if raw.isdigit() else default


async def list_users(request: web.Request) -> web.Response:
    directory = _directory(request)
    needle = request.query.get("search", "").strip().lower()
    skip = _int_query(request, "skip", 0, 10**9)
    top = _int_query(request, "top", 50, MAX_PAGE) or 50
    ids = directory.active_ids()
    if needle:
        ids = [uid for uid in ids if _matches(directory.records[uid].props, needle)]
    page = [_view(directory.records[uid].props) for uid in ids[skip : skip + top]]
    return web.json_response({"total": len(ids), "skip": skip, "users": page})


async def list_deleted(request: web.Request) -> web.Response:
    directory = _directory(request)
    users = [_view(directory.records[uid].props) for uid in directory.deleted_ids()]
    return web.json_response({"total": len(users), "users": users})


async def create_user(request: web.Request) -> web.Response:
    body = await json_object(request)
    return web.json_response(_view(_directory(request).create_user(**body)), status=201)


async def update_user(request: web.Request) -> web.Response:
    body = await json_object(request)
    user = _directory(request).update_user(request.match_info["user_id"], **body)
    return web.json_response(_view(user))


async def soft_delete(request: web.Request) -> web.Response:
    _directory(request).soft_delete_user(request.match_info["user_id"])
    return web.Response(status=204)


async def restore(request: web.Request) -> web.Response:
    return web.json_response(_view(_directory(request).restore_user(request.match_info["user_id"])))


async def hard_delete(request: web.Request) -> web.Response:
    directory = _directory(request)
    directory.deleted_record(request.match_info["user_id"])
    directory.hard_delete_user(request.match_info["user_id"])
    return web.Response(status=204)


async def page(request: web.Request) -> web.Response:
    return web.Response(
        text=CONSOLE_HTML,
        content_type="text/html",
        headers={
            "Content-Security-Policy": (
                "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
                "connect-src 'self'"
            ),
            "X-Content-Type-Options": "nosniff",
        },
    )


def add_console_routes(app: web.Application, prefix: str) -> None:
    base = f"{prefix}console"
    r = app.router
    r.add_get("/console", page)
    r.add_get(f"{base}/users", list_users)
    r.add_post(f"{base}/users", create_user)
    r.add_patch(f"{base}/users/{{user_id}}", update_user)
    r.add_delete(f"{base}/users/{{user_id}}", soft_delete)
    r.add_get(f"{base}/deleted", list_deleted)
    r.add_post(f"{base}/deleted/{{user_id}}/restore", restore)
    r.add_delete(f"{base}/deleted/{{user_id}}", hard_delete)
