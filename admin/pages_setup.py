"""The Setup page in the manual's order: scope, Admin Consent, OAuth Token, the green
confirmation, Save; and the application (client-credentials) mode as the alternative."""

from __future__ import annotations

import structlog
from aiohttp import web

from admin.callbacks import callback_params
from admin.common import csrf_field, flash, link_for, render, state_badge
from admin.html import Markup, fmt, page
from admin.keys import SESSIONS, session_of
from admin.listenerreturn import flow_origin, return_target
from admin.sessions import PendingSetup, Session, new_state
from admin.tokencheck import MemoryTokenCache, verify_token_cache
from edge.inputs import read_form
from store.links import get_secret, save_token_cache, set_secret, update_link
from store.models import AuthMode, Link, LinkState
from worker.appkeys import DB, SETTINGS
from worker.errors import SyncError
from worker.graph.auth import admin_consent_url, finish_auth_code_flow, start_auth_code_flow
from worker.linkadmin import check_link, save_settings
from worker.linkctx import CLIENT_SECRET, auth_config
from worker.planner import PolicyError

log = structlog.get_logger("m365sync.admin")
CONSENT_PATH = "/auth/consent"
TOKEN_PATH = "/auth/token"  # noqa: S105 - a path, not a secret


def _base_url(request: web.Request) -> str:
    public = request.config_dict[SETTINGS].public_url
    return public.rstrip("/") if public else f"{request.scheme}://{request.host}"


def _session(request: web.Request) -> Session:
    session = session_of(request)
    if session is None:  # API tokens cannot drive a browser round trip
        raise web.HTTPForbidden(text="sign in with a browser session for setup")
    return session


async def setup_page(request: web.Request) -> web.Response:
    link = await link_for(request)
    pending = _session(request).pending.get(link.id, PendingSetup())
    return render(request, f"Setup · {link.name}", _setup_body(request, link, pending), link=link)


def _setup_body(
    request: web.Request, link: Link, pending: PendingSetup, errors: dict[str, str] | None = None
) -> Markup:
    errors = errors or {}
    scope = str(link.settings.get("scope") or "all")
    groups = ", ".join(link.settings.get("group_ids") or [])
    delegated = link.auth_mode is AuthMode.DELEGATED
    return page(
        "setup.html",
        link_id=link.id,
        csrf=csrf_field(request),
        badge=state_badge(link),
        scope_all="checked" if scope == "all" else "",
        scope_groups="checked" if scope == "groups" else "",
        group_ids=groups,
        group_error=_field_error("group_ids", errors),
        scope_error=_field_error("scope", errors),
        secret_error=_field_error("client_secret", errors),
        mode_delegated="checked" if delegated else "",
        mode_application="" if delegated else "checked",
        tenant_id=link.tenant_id,
        client_id=link.client_id,
        consent=_consent_text(pending),
        token=_token_text(pending),
    )


def _field_error(name: str, errors: dict[str, str]) -> Markup:
    if name not in errors:
        return Markup("")
    return fmt(
        '<span class="field-error" id="err-{n}" role="alert">{m}</span>', n=name, m=errors[name]
    )


def _consent_text(pending: PendingSetup) -> Markup:
    if pending.consent == "granted":
        return Markup('<p class="ok" id="consent-result">Admin consent granted.</p>')
    if pending.consent:
        return fmt('<p class="error" id="consent-result">{m}</p>', m=pending.consent)
    return Markup("")


def _token_text(pending: PendingSetup) -> Markup:
    if pending.error:
        return fmt('<p class="error" id="token-result">{m}</p>', m=pending.error)
    if pending.token_cache and pending.verified:
        return fmt(
            '<p class="badge ok big" id="token-result" role="status">Integration active'
            " — signed in as {who}. Click Save to store the retrieved tokens.</p>",
            who=pending.signed_in_as,
        )
    return Markup("")


async def consent_start(request: web.Request) -> web.StreamResponse:
    link = await link_for(request)
    session = _session(request)
    state = new_state()
    request.app[SESSIONS].put_flow(
        state, session, link.id, "consent", {}, origin=flow_origin(request)
    )
    config = auth_config(link, request.config_dict[SETTINGS])
    url = admin_consent_url(
        config.authority_host,
        link.tenant_id,
        link.client_id,
        _base_url(request) + CONSENT_PATH,
        state,
        graph_url=config.graph_resource,
    )
    raise web.HTTPSeeOther(url)


async def consent_callback(request: web.Request) -> web.StreamResponse:
    query = await callback_params(request)
    found = request.app[SESSIONS].take_flow(query.get("state", ""))
    if found is None or found[0].kind != "consent":
        return _bounce("/links", "This sign-in link has expired. Start again from the Setup page.")
    flow, session = found
    pending = session.pending_for(flow.link_id)
    if query.get("error"):
        detail = query.get("error_description") or query["error"]
        pending.consent = f"Admin consent was not granted: {detail[:300]}"
    else:
        pending.consent = "granted"
    return _bounce(return_target(request, flow, f"/links/{flow.link_id}/setup"))


async def token_start(request: web.Request) -> web.StreamResponse:
    link = await link_for(request)
    session = _session(request)
    secret = await get_secret(request.config_dict[DB], link.id, CLIENT_SECRET)
    if not secret:
        flash(request, "error", "Store the app's client secret (Save) before OAuth Token.")
        raise web.HTTPSeeOther(f"/links/{link.id}/setup")
    state = new_state()
    config = auth_config(link, request.config_dict[SETTINGS])
    try:
        flow = await start_auth_code_flow(
            config, secret, redirect_uri=_base_url(request) + TOKEN_PATH, state=state
        )
    except SyncError as exc:
        flash(request, "error", f"OAuth Token could not start: {exc}")
        raise web.HTTPSeeOther(f"/links/{link.id}/setup") from None
    request.app[SESSIONS].put_flow(
        state, session, link.id, "token", flow, origin=flow_origin(request)
    )
    raise web.HTTPSeeOther(str(flow["auth_uri"]))


async def token_callback(request: web.Request) -> web.StreamResponse:
    query = await callback_params(request)
    found = request.app[SESSIONS].take_flow(query.get("state", ""))
    if found is None or found[0].kind != "token":
        return _bounce("/links", "This sign-in link has expired. Start again from the Setup page.")
    flow, session = found
    db, settings = request.config_dict[DB], request.config_dict[SETTINGS]
    pending = session.pending_for(flow.link_id)
    pending.error, pending.verified = "", False
    from store.links import get_link

    link = await get_link(db, flow.link_id)
    secret = await get_secret(db, link.id, CLIENT_SECRET) or ""
    cache = MemoryTokenCache()
    try:
        account = await finish_auth_code_flow(
            auth_config(link, settings), secret, cache, flow.data, query
        )
        await verify_token_cache(link, settings, secret, cache.blob or "")
    except SyncError as exc:
        pending.error = f"OAuth Token failed: {exc}"
        pending.token_cache = None
        return _bounce(return_target(request, flow, f"/links/{link.id}/setup"))
    pending.token_cache, pending.signed_in_as, pending.verified = cache.blob, account.username, True
    log.info("oauth.token_retrieved", link=link.name, user=account.username)
    return _bounce(return_target(request, flow, f"/links/{link.id}/setup"))


def _bounce(target: str, message: str = "") -> web.Response:
    """Back to our own page from a same-site navigation, so the SameSite=Strict session
    cookie is sent again (a redirect answering Microsoft's cross-site request would not be)."""
    body = page("bounce.html", target=target, message=message)
    response = web.Response(text=body, content_type="text/html")
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


async def save(request: web.Request) -> web.StreamResponse:
    link = await link_for(request)
    session = _session(request)
    form = await read_form(request)
    db = request.config_dict[DB]
    scope = str(form.get("scope") or "all")
    groups = str(form.get("group_ids") or "")
    mode = AuthMode.APPLICATION if form.get("auth_mode") == "application" else AuthMode.DELEGATED
    secret = str(form.get("client_secret") or "").strip()
    pending = session.pending.get(link.id, PendingSetup())
    try:
        await save_settings(db, link.id, {**link.settings, "scope": scope, "group_ids": groups})
    except PolicyError as exc:
        body = _setup_body(request, link, pending, {exc.field: exc.message})
        return render(request, f"Setup · {link.name}", body, link=link, status=422)
    if secret:
        await set_secret(db, link.id, CLIENT_SECRET, secret)
    if mode is not link.auth_mode:
        await update_link(db, link.id, auth_mode=mode)
    if mode is AuthMode.DELEGATED and pending.token_cache and pending.verified:
        await save_token_cache(db, link.id, pending.token_cache)
    session.pending.pop(link.id, None)
    link = await check_link(db, link.id, request.config_dict[SETTINGS])
    if link.state is LinkState.ACTIVE:
        flash(request, "ok", "Saved. Integration active.")
    else:
        flash(request, "error", f"Saved. Setup Required: {link.state_reason}")
    raise web.HTTPSeeOther(f"/links/{link.id}/setup")
