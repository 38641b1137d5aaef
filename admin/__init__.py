"""The admin page and its JSON API: aiohttp applications of their own.

`mount(app)` serves two of them from the daemon's root: `signin` (the sign-in page, static
files and the `/auth/...` callbacks Microsoft redirects to; no session needed) and
`console` (every page and `/api/...`, behind the guard: session or API token, CSRF). A
route is public or private by the application it lives in; the webhook's own routes
(Graph notifications, health, metrics) never pass through the guard.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from admin import (
    api,
    api_admin,
    api_linking,
    api_ops,
    auth,
    chrome,
    groups,
    notfound,
    pages_activity,
    pages_directory,
    pages_doctor,
    pages_links,
    pages_ops,
    pages_settings,
    pages_setup,
)
from admin.directoryview import ViewCache
from admin.keys import DIRECTORY, LIMITER, SESSIONS, USERS
from admin.listenerreturn import RETURN_PATH, return_page
from admin.mount import mount as mount_app
from admin.ratelimit import SignInLimiter
from admin.selection import UsersCache
from admin.sessions import SessionStore

STATIC = Path(__file__).resolve().parent / "static"


async def _home(request: web.Request) -> web.StreamResponse:
    raise web.HTTPSeeOther("/links")


def mount(app: web.Application) -> None:
    """Serve the admin page from `app`, which must hold the shared DB and SETTINGS."""
    signin, console = create_admin_apps()
    mount_app(app, signin)
    mount_app(app, console)
    # A path nobody routes gets a page a person can read (innermost: after every router).
    app.middlewares.append(notfound.friendly_not_found)


def create_admin_apps() -> tuple[web.Application, web.Application]:
    """The public `signin` application and the guarded `console`, sharing the sessions."""
    sessions = SessionStore()
    signin = web.Application(middlewares=[auth.security_headers])
    signin[SESSIONS] = sessions
    signin[LIMITER] = SignInLimiter()
    r = signin.router
    r.add_static("/static/", STATIC, append_version=False)
    r.add_get("/login", auth.login_form)
    r.add_get(chrome.HELP_PATH, chrome.help_page)
    r.add_post("/login", auth.login)
    # Microsoft's redirects arrive cross-site without the SameSite=Strict cookie; these
    # authenticate by the flow's one-time `state` instead of the session.
    r.add_get(pages_setup.CONSENT_PATH, pages_setup.consent_callback)
    r.add_get(pages_setup.TOKEN_PATH, pages_setup.token_callback)
    r.add_post(pages_setup.TOKEN_PATH, pages_setup.token_callback)
    # With a private admin listener, the callbacks send the browser back here on it.
    r.add_get(RETURN_PATH, return_page)

    console = web.Application(middlewares=[auth.security_headers, auth.guard])
    console[SESSIONS] = sessions
    console[USERS] = UsersCache()
    console[DIRECTORY] = ViewCache()
    r = console.router
    r.add_post("/logout", auth.logout)
    r.add_get("/", _home)
    _pages(r)
    _api(r)
    return signin, console


def _pages(r: web.UrlDispatcher) -> None:
    link = "/links/{link_id:\\d+}"
    r.add_get("/links", pages_links.links_page)
    r.add_post("/links", pages_links.add_link_submit)
    r.add_get(link, pages_links.link_page)
    r.add_post(f"{link}/check", pages_links.check_submit)
    r.add_post(f"{link}/doctor", pages_doctor.doctor_submit)
    r.add_post(f"{link}/test-mail", pages_links.test_mail_submit)
    r.add_get(f"{link}/setup", pages_setup.setup_page)
    r.add_post(f"{link}/setup/consent", pages_setup.consent_start)
    r.add_post(f"{link}/setup/token", pages_setup.token_start)
    r.add_post(f"{link}/setup/save", pages_setup.save)
    r.add_get(f"{link}/settings", pages_settings.settings_page)
    r.add_post(f"{link}/settings", pages_settings.settings_submit)
    r.add_post(f"{link}/resync", pages_ops.resync_submit)
    r.add_post(f"{link}/held", pages_ops.held_submit)
    r.add_get(f"{link}/plan", pages_ops.plan_page)
    r.add_get(f"{link}/activity", pages_activity.activity_page)
    r.add_get(f"{link}/activity.csv", pages_activity.activity_csv)
    r.add_get(f"{link}/directory", pages_directory.directory_page)
    r.add_post(f"{link}/directory/link", pages_directory.link_submit)
    r.add_post(f"{link}/directory/reenable", pages_directory.reenable_submit)


def _api(r: web.UrlDispatcher) -> None:
    link = "/api/links/{link_id:\\d+}"
    r.add_get("/api/links", api.get_links)
    r.add_post("/api/links", api_admin.post_link)
    r.add_get(link, api.get_link)
    r.add_get(f"{link}/settings", api.get_settings)
    r.add_put(f"{link}/settings", api.put_settings)
    r.add_get(f"{link}/users", api.get_users)
    r.add_get(f"{link}/groups", groups.search_groups)
    r.add_post(f"{link}/selection/preview", api.selection_preview)
    r.add_post(f"{link}/selection/auto-assign", api.selection_auto_assign)
    r.add_post(f"{link}/selection/create", api.selection_create)
    r.add_get(f"{link}/unmatched", api_ops.unmatched_preview)
    r.add_post(f"{link}/unmatched", api_ops.unmatched_apply)
    r.add_get(f"{link}/held", api_ops.get_held)
    r.add_post(f"{link}/held/approve", api_ops.held_approve)
    r.add_post(f"{link}/held/reject", api_ops.held_reject)
    r.add_post(f"{link}/resync", api_ops.resync)
    r.add_get(f"{link}/plan", api_ops.dry_run)
    r.add_get(f"{link}/audit", api_ops.get_audit)
    r.add_post(f"{link}/link", api_linking.link_user)
    r.add_post(f"{link}/reenable", api_linking.reenable)
    r.add_get(f"{link}/directory", api_linking.get_directory)
    r.add_get(f"{link}/audit.csv", pages_activity.activity_csv)
    r.add_get("/api/tokens", api_admin.get_tokens)
    r.add_post("/api/tokens", api_admin.post_token)
    r.add_delete("/api/tokens/{token_id}", api_admin.delete_token)
