"""Who may enter: sign-in, sign-out, the session and CSRF guard, API tokens."""

from __future__ import annotations

import asyncio
import hmac
import secrets
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any
from urllib.parse import urlsplit

import structlog
from aiohttp import web

from admin.chrome import PRODUCT
from admin.html import Markup, fmt, page
from admin.keys import COOKIE, LIMITER, PRINCIPAL_KEY, SESSION_KEY, SESSIONS
from admin.passwords import hash_password, token_hash, verify_password
from admin.sessions import Principal, Session
from admin.signinaudit import record_signin_failed, record_signin_ok, record_signout
from edge.inputs import read_form
from edge.listeners import split_listeners
from store.admins import get_admin_account, list_api_tokens
from store.links import list_links
from store.models import Link
from worker.appkeys import DB, SETTINGS
from worker.errors import PbxAuthError, PbxForbiddenError, SyncError
from worker.linkctx import client_ssl
from worker.vodia.client import VodiaClient

log = structlog.get_logger("m365sync.admin")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
LOGIN_COOKIE = "m365sync_login"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
PBX_CHECK_TIMEOUT_S = 10.0
_DUMMY_HASH = hash_password(secrets.token_urlsafe(16), n=2**14)
CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self';"
    " frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)


@web.middleware
async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every route of the console needs a session (or an API token); state changes need CSRF."""
    refusal = await _admit(request)
    if refusal is not None:
        return refusal
    try:
        return await handler(request)
    finally:
        session = request.get(SESSION_KEY)
        if session is not None:  # what the handler changed: flashes, pending setup
            await request.app[SESSIONS].save(request.config_dict[DB], session)


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    """What every admin response carries (refusals and redirects included); only static
    files may be cached."""
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        _secure_headers(request, exc.headers)
        raise
    _secure_headers(request, response.headers)
    return response


def _secure_headers(request: web.Request, headers: MutableMapping[str, str]) -> None:
    headers.setdefault("Content-Security-Policy", CSP)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "same-origin")
    if not isinstance(request.match_info.route.resource, web.StaticResource):
        headers.setdefault("Cache-Control", "no-store")


async def _admit(request: web.Request) -> web.StreamResponse | None:
    is_api = request.path.startswith("/api/")
    authorization = request.headers.get("Authorization", "")
    if is_api and authorization.lower().startswith("bearer "):
        principal = await _token_principal(request, authorization[7:].strip())
        if principal is None:
            return _refuse(request, 401, "invalid API token")
        request[PRINCIPAL_KEY] = principal
        return None
    db = request.config_dict[DB]
    session = await request.app[SESSIONS].get(db, request.cookies.get(COOKIE, ""))
    if session is None:
        if is_api or request.method not in SAFE_METHODS:
            return _refuse(request, 401, "sign in first")
        target = request.path_qs if request.path != "/" else "/links"
        raise web.HTTPSeeOther(f"/login?{_next_query(target)}")
    if request.method not in SAFE_METHODS and not await _csrf_ok(request, session):
        return _refuse(request, 403, "missing or wrong CSRF token; reload the page")
    request[SESSION_KEY] = session
    request[PRINCIPAL_KEY] = session.principal
    return None


def _refuse(request: web.Request, status: int, message: str) -> web.Response:
    if request.path.startswith("/api/"):
        return web.json_response({"error": message}, status=status)
    return web.Response(status=status, text=message)


async def _csrf_ok(request: web.Request, session: Session) -> bool:
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.content_type in (
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    ):
        form = await read_form(request)
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    return sent is not None and hmac.compare_digest(sent.encode(), session.csrf.encode())


async def _token_principal(request: web.Request, token: str) -> Principal | None:
    if not token:
        return None
    digest = token_hash(token)
    for stored in await list_api_tokens(request.config_dict[DB]):
        if hmac.compare_digest(digest, stored.token_hash):
            return Principal(f"token:{stored.name}", None, via="token")
    return None


def _next_query(target: str) -> str:
    from urllib.parse import urlencode

    return urlencode({"next": target})


def safe_next(target: str) -> str:
    """Only local paths: never an open redirect."""
    parts = urlsplit(target)
    # Browsers read "/\\host" as "//host": refuse backslashes as well.
    if parts.scheme or parts.netloc or not target.startswith("/") or target[1:2] in ("/", "\\"):
        return "/links"
    return target


# -- sign-in ------------------------------------------------------------------------------


async def login_form(request: web.Request) -> web.Response:
    return _login_page(
        request,
        next_=safe_next(request.query.get("next", "/links")),
        signed_out=request.query.get("signed_out") == "1",
    )


def _login_page(
    request: web.Request,
    *,
    next_: str,
    error: str = "",
    username: str = "",
    status: int = 200,
    headers: dict[str, str] | None = None,
    signed_out: bool = False,
) -> web.Response:
    # Reuse the cookie's token: a second login page (another tab, a favicon redirect) must
    # not invalidate the form already on screen.
    csrf = request.cookies.get(LOGIN_COOKIE, "")
    if not 30 <= len(csrf) <= 64:
        csrf = secrets.token_urlsafe(24)
    body = page(
        "login.html",
        csrf=csrf,
        next=next_,
        username=username,
        product=PRODUCT,
        notice=Markup('<p class="flash ok" role="status" id="signed-out">You are signed out.</p>')
        if signed_out
        else Markup(""),
        error=fmt('<p class="error" role="alert">{e}</p>', e=error) if error else Markup(""),
    )
    response = web.Response(
        text=body, content_type="text/html", status=status, headers=headers or {}
    )
    response.set_cookie(
        LOGIN_COOKIE, csrf, httponly=True, samesite="Strict", secure=_secure(request), path="/login"
    )
    return response


async def login(request: web.Request) -> web.StreamResponse:
    form = await read_form(request)
    username = str(form.get("username") or "").strip()[:200]
    password = str(form.get("password") or "")[:1000]
    next_ = safe_next(str(form.get("next") or "/links"))
    sent, expected = str(form.get(CSRF_FIELD) or ""), request.cookies.get(LOGIN_COOKIE, "")
    if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        return _login_page(request, next_=next_, error="The form expired; try again.", status=403)
    address = request.remote or "unknown"
    limiter, db = request.app[LIMITER], request.config_dict[DB]
    wait_s = await limiter.retry_after_s(db, address, username)
    if wait_s > 0:
        log.warning("signin.rate_limited", user=username, address=address)
        minutes = max(1, round(wait_s / 60))
        return _login_page(
            request,
            next_=next_,
            username=username,
            error=f"Too many failed sign-ins. Try again in about {minutes} minute(s).",
            status=429,
            headers={"Retry-After": str(int(wait_s) + 1)},
        )
    principal = await authenticate(request.config_dict, username, password) if username else None
    if principal is None:
        await limiter.failed(db, address, username)
        log.warning("signin.failed", user=username, address=address)
        await record_signin_failed(request.config_dict[DB], username, address)
        return _login_page(
            request,
            next_=next_,
            username=username,
            error="Wrong user name or password.",
            status=401,
        )
    await limiter.succeeded(db, username)
    session = await request.app[SESSIONS].create(db, principal)
    log.info("signin.succeeded", user=principal.username, links=_links_text(principal))
    await record_signin_ok(request.config_dict[DB], principal, address)
    response = see_other(next_)
    set_session_cookie(request, response, session.id)
    return response


def see_other(location: str) -> web.Response:
    return web.Response(status=303, headers={"Location": location})


def set_session_cookie(request: web.Request, response: web.StreamResponse, sid: str) -> None:
    response.set_cookie(
        COOKIE, sid, httponly=True, samesite="Strict", secure=_secure(request), path="/"
    )


def _secure(request: web.Request) -> bool:
    """Secure when served over HTTPS here, or behind a proxy whose public URL is https.
    The public URL says nothing of a private admin listener (M365SYNC_ADMIN_LISTEN): it
    serves plain HTTP unless a proxy in front of it says otherwise."""
    if split_listeners(request):
        return request.secure
    public = request.config_dict[SETTINGS].public_url or ""
    return request.secure or public.startswith("https://")


def _links_text(principal: Principal) -> str:
    if principal.link_ids is None:
        return "all"
    return ",".join(str(i) for i in sorted(principal.link_ids))


async def logout(request: web.Request) -> web.StreamResponse:
    session = request.get(SESSION_KEY)
    if session is not None:
        await request.app[SESSIONS].drop(request.config_dict[DB], session.id)
        await record_signout(request.config_dict[DB], session.principal)
    response = see_other("/login?signed_out=1")
    response.del_cookie(COOKIE, path="/")
    return response


async def authenticate(app: Mapping[Any, Any], username: str, password: str) -> Principal | None:
    """The daemon's administrator by its stored hash, or a PBX admin checked live against the
    PBX of every link configured with that account."""
    db = app[DB]
    account = await get_admin_account(db)
    if account is not None and hmac.compare_digest(
        username.lower().encode(), account.username.lower().encode()
    ):
        ok = await asyncio.to_thread(verify_password, password, account.password_hash)
        return Principal(account.username, None) if ok else None
    links = [lk for lk in await list_links(db) if lk.pbx_user.lower() == username.lower()]
    if not links:
        # The same work as a real check, so timing does not tell which accounts exist.
        await asyncio.to_thread(verify_password, password, _DUMMY_HASH)
        return None
    results = await asyncio.gather(*(_pbx_accepts(app, lk, password) for lk in links))
    allowed = frozenset(lk.id for lk, ok in zip(links, results, strict=True) if ok)
    return Principal(username, allowed) if allowed else None


async def _pbx_accepts(app: Mapping[Any, Any], link: Link, password: str) -> bool:
    ssl = client_ssl(link, app[SETTINGS]) if link.pbx_url.startswith("https:") else None
    client = VodiaClient(
        link.pbx_url,
        link.pbx_domain,
        link.pbx_user,
        password,
        ssl=ssl,
        timeout_s=PBX_CHECK_TIMEOUT_S,
        retries=1,
        backoff_s=0.2,
    )
    try:
        async with client:
            await client.verify()
    except (PbxAuthError, PbxForbiddenError):
        return False
    except SyncError as exc:
        log.warning("signin.pbx_unreachable", link=link.name, error=str(exc))
        return False
    return True
