"""The Setup page in the manual's order: scope, Admin Consent, OAuth Token, the green
confirmation, Save; and the application (client-credentials) mode as the alternative."""

from __future__ import annotations

import structlog
from aiohttp import web

from admin.callbacks import callback_params
from admin.catchup import catch_up_after_change
from admin.common import csrf_field, flash, link_for, render, state_badge
from admin.html import Markup, fmt, page
from admin.keys import SESSIONS, principal_of, session_of
from admin.listenerreturn import flow_origin, return_target
from admin.sessions import PendingSetup, Session, new_state
from admin.tokencheck import MemoryTokenCache, verify_token_cache
from edge.inputs import read_form
from store.links import get_secret, save_token_cache, set_secret, update_link
from store.models import AuthMode, Link, LinkState
from worker.adminaudit import MASK, REPLACED, record_admin, settings_changes
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
    request: web.Request,
    link: Link,
    pending: PendingSetup,
    errors: dict[str, str] | None = None,
    notice: Markup | None = None,
) -> Markup:
    errors = errors or {}
    # What the admin chose before leaving for Microsoft wins over what is stored.
    scope = pending.scope or str(link.settings.get("scope") or "all")
    groups = pending.group_ids or ", ".join(link.settings.get("group_ids") or [])
    mode = pending.mode or link.auth_mode.value
    auto_create = (
        pending.auto_create
        if pending.auto_create is not None
        else bool(link.settings.get("auto_create"))
    )
    return page(
        "setup.html",
        link_id=link.id,
        csrf=csrf_field(request),
        badge=state_badge(link),
        notice=notice or Markup(""),
        scope_all="checked" if scope != "groups" else "",
        scope_groups="checked" if scope == "groups" else "",
        group_ids=groups,
        group_error=_field_error("group_ids", errors),
        scope_error=_field_error("scope", errors),
        secret_error=_field_error("client_secret", errors),
        mode_delegated="checked" if mode == AuthMode.DELEGATED.value else "",
        mode_application="" if mode == AuthMode.DELEGATED.value else "checked",
        auto_create="checked" if auto_create else "",
        tenant_id=link.tenant_id,
        client_id=link.client_id,
        consent=_consent_text(pending),
        token=_token_text(pending),
    )


async def _remember_choices(request: web.Request, session: Session, link: Link) -> None:
    """Keep the form's choices in the session while the browser is at Microsoft."""
    form = await read_form(request)
    pending = session.pending_for(link.id)
    if form.get("auth_mode") in (AuthMode.DELEGATED.value, AuthMode.APPLICATION.value):
        pending.mode = str(form["auth_mode"])
    if form.get("scope") in ("all", "groups"):
        pending.scope = str(form["scope"])
    pending.group_ids = str(form.get("group_ids") or "")[:4000]
    if "scope" in form:  # the whole form was posted: an unticked box means off
        pending.auto_create = form.get("auto_create") == "true"


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
    await _remember_choices(request, session, link)
    state = new_state()
    await request.app[SESSIONS].put_flow(
        request.config_dict[DB], state, session, link.id, "consent", {}, flow_origin(request)
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
    found = await request.app[SESSIONS].take_flow(request.config_dict[DB], query.get("state", ""))
    if found is None or found[0].kind != "consent":
        return _bounce("/links", "This sign-in link has expired. Start again from the Setup page.")
    flow, session = found
    pending = session.pending_for(flow.link_id)
    if query.get("error"):
        detail = query.get("error_description") or query["error"]
        pending.consent = f"Admin consent was not granted: {detail[:300]}"
    else:
        pending.consent = "granted"
    await request.app[SESSIONS].save(request.config_dict[DB], session)
    return _bounce(return_target(request, flow, f"/links/{flow.link_id}/setup"))


async def token_start(request: web.Request) -> web.StreamResponse:
    link = await link_for(request)
    session = _session(request)
    await _remember_choices(request, session, link)
    # OAuth Token is the delegated mode's step: choosing it chooses that mode.
    session.pending_for(link.id).mode = AuthMode.DELEGATED.value
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
    await request.app[SESSIONS].put_flow(
        request.config_dict[DB], state, session, link.id, "token", flow, flow_origin(request)
    )
    raise web.HTTPSeeOther(str(flow["auth_uri"]))


async def token_callback(request: web.Request) -> web.StreamResponse:
    query = await callback_params(request)
    found = await request.app[SESSIONS].take_flow(request.config_dict[DB], query.get("state", ""))
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
        await request.app[SESSIONS].save(db, session)
        return _bounce(return_target(request, flow, f"/links/{link.id}/setup"))
    pending.token_cache, pending.signed_in_as, pending.verified = cache.blob, account.username, True
    await request.app[SESSIONS].save(db, session)
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
    actor = principal_of(request).username
    # A field the form did not send keeps what is stored: a hand-made post without the
    # radios must not switch the sign-in mode or widen the scope.
    scope = str(form.get("scope") or link.settings.get("scope") or "all")
    stored_groups = ", ".join(link.settings.get("group_ids") or [])
    groups = str(form.get("group_ids") or "") if "scope" in form else stored_groups
    mode = _MODES.get(str(form.get("auth_mode") or ""), link.auth_mode)
    # The page always posts the scope radios; without them the checkbox was not on the form.
    if "scope" in form:
        auto_create = form.get("auto_create") == "true"
    else:
        auto_create = bool(link.settings.get("auto_create"))
    secret = str(form.get("client_secret") or "").strip()
    pending = session.pending.get(link.id, PendingSetup())
    has_token = bool(pending.token_cache and pending.verified)
    resolve = str(form.get("token_choice") or "")
    if has_token and mode is AuthMode.APPLICATION:
        if resolve == "keep":
            mode = AuthMode.DELEGATED
        elif resolve != "discard":
            # Never drop a retrieved token silently: say what would be lost and ask.
            pending.mode, pending.scope, pending.group_ids = mode.value, scope, groups
            pending.auto_create = auto_create
            body = _setup_body(request, link, pending, notice=_token_question(pending))
            return render(request, f"Setup · {link.name}", body, link=link, status=409)
    new_settings = {
        **link.settings,
        "scope": scope,
        "group_ids": groups,
        "auto_create": auto_create,
    }
    try:
        saved = await save_settings(db, link.id, new_settings)
    except PolicyError as exc:
        body = _setup_body(request, link, pending, {exc.field: exc.message})
        return render(request, f"Setup · {link.name}", body, link=link, status=422)
    before, after = settings_changes(link.settings, saved.settings)
    if secret:
        await set_secret(db, link.id, CLIENT_SECRET, secret)
        before["client_secret"], after["client_secret"] = MASK, "(replaced)"
    if mode is not link.auth_mode:
        await update_link(db, link.id, auth_mode=mode)
        await record_admin(
            db,
            [link.id],
            "sign-in mode changed",
            actor=actor,
            before={"auth_mode": _MODE_WORDS[link.auth_mode]},
            after={"auth_mode": _MODE_WORDS[mode]},
        )
    discarded = has_token and mode is AuthMode.APPLICATION
    if mode is AuthMode.DELEGATED and has_token:
        await save_token_cache(db, link.id, pending.token_cache or "")
        # The token itself is a secret (masked by name); who signed in is not.
        after["oauth_token"] = REPLACED
        after["signed_in_as"] = pending.signed_in_as or ""
    session.pending.pop(link.id, None)
    link = await check_link(db, link.id, request.config_dict[SETTINGS])
    await record_admin(
        db,
        [link.id],
        "setup saved",
        actor=actor,
        outcome="ok" if link.state is LinkState.ACTIVE else "setup required",
        before=before,
        after=after,
        reason=link.state_reason,
    )
    extra = (
        " The OAuth token was discarded (application permissions do not use it)."
        if (discarded)
        else ""
    )
    if link.state is LinkState.ACTIVE:
        flash(request, "ok", "Saved. Integration active." + extra)
        await catch_up_after_change(request, link, before, after)
    else:
        flash(request, "error", f"Saved. Setup Required: {link.state_reason}{extra}")
    raise web.HTTPSeeOther(f"/links/{link.id}/setup")


_MODES = {m.value: m for m in AuthMode}
_MODE_WORDS = {
    AuthMode.DELEGATED: "Admin Consent + OAuth Token",
    AuthMode.APPLICATION: "Application permissions",
}


def _token_question(pending: PendingSetup) -> Markup:
    return fmt(
        '<section class="card notice" id="token-question" role="alert">'
        "<h2>Keep the OAuth token?</h2>"
        "<p>You retrieved an OAuth token (signed in as {who}), but the sign-in mode is"
        " <b>Application permissions</b>, which does not use it. Saving in that mode"
        " discards the token.</p>"
        '<button type="submit" form="setup-form" name="token_choice" value="keep"'
        ' id="token-keep">Save with Admin Consent + OAuth Token (keep the token)</button> '
        '<button type="submit" form="setup-form" name="token_choice" value="discard"'
        ' id="token-discard" class="danger">Save with application permissions'
        " (discard the token)</button></section>",
        who=pending.signed_in_as,
    )
