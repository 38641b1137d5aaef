"""Typed keys for what the admin page keeps in the application and in each request."""

from __future__ import annotations

from aiohttp import web

from admin.directoryview import ViewCache
from admin.ratelimit import SignInLimiter
from admin.selection import UsersCache
from admin.sessions import Principal, Session, SessionStore

SESSIONS = web.AppKey("admin_sessions", SessionStore)
LIMITER = web.AppKey("admin_limiter", SignInLimiter)
USERS = web.AppKey("admin_users_cache", UsersCache)
DIRECTORY = web.AppKey("admin_directory_view", ViewCache)
COOKIE = "m365sync_session"
PRINCIPAL_KEY = web.RequestKey("admin_principal", Principal)
SESSION_KEY = web.RequestKey("admin_session", Session)


def principal_of(request: web.Request) -> Principal:
    principal = request.get(PRINCIPAL_KEY)
    if not isinstance(principal, Principal):
        raise web.HTTPUnauthorized()
    return principal


def session_of(request: web.Request) -> Session | None:
    session = request.get(SESSION_KEY)
    return session if isinstance(session, Session) else None
