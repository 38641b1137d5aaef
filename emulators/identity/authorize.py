"""The interactive endpoints: `/oauth2/v2.0/authorize` and the two admin-consent endpoints.

No person is needed: the configured administrator is signed in (and consents) at once,
unless the platform asks for a form. Problems that make the redirect target untrustworthy
(unknown tenant or app, unregistered redirect_uri) get an error page; everything else is
reported to the redirect_uri with `error` and `error_description`, as Entra does.
"""

from __future__ import annotations

import html
import uuid
from collections.abc import Mapping
from urllib.parse import urlencode

from aiohttp import web

from emulators.identity import aad_errors, scopes
from emulators.identity.aad_errors import AadError
from emulators.identity.grants import AuthCode
from emulators.identity.platform import IdentityPlatform

RESPONSE_MODES = ("query", "fragment", "form_post")
_DECLINED = "AADSTS65004: User declined to consent to access the app."


async def handle_authorize(request: web.Request, platform: IdentityPlatform) -> web.Response:
    params = await _params(request)
    try:
        redirect_uri = _trusted_redirect(request, platform, params, allow_common=True)
    except AadError as exc:
        return _error_page(exc)
    mode = params.get("response_mode", "query")
    if mode not in RESPONSE_MODES:
        mode = "query"
    state = params.get("state")
    try:
        code = _authorize(request, platform, params, redirect_uri)
    except AadError as exc:
        return _redirect(redirect_uri, _error_params(exc, state), mode)
    if code is None:
        return _login_form(request, params, "Sign in", f"Sign in as {platform.tenant.admin_upn}")
    reply = {"code": code, "state": state, "session_state": str(uuid.uuid4())}
    return _redirect(redirect_uri, reply, mode)


def _authorize(
    request: web.Request, platform: IdentityPlatform, params: Mapping[str, str], redirect_uri: str
) -> str | None:
    """A new code; None when the sign-in form must be shown first."""
    if params.get("response_type") != "code":
        raise AadError(
            400,
            "unsupported_response_type",
            70000,
            "The provided value for the input parameter 'response_type' is not allowed for "
            "this client. Expected value is 'code'.",
        )
    challenge = params.get("code_challenge", "")
    if not challenge:
        raise aad_errors.invalid_request(
            "Proof Key for Code Exchange is required for this authorization code flow.", 9002325
        )
    if params.get("code_challenge_method", "plain") != "S256" or len(challenge) != 43:
        raise aad_errors.invalid_request(
            "Invalid code_challenge: only S256 with a 43-character challenge is accepted.", 501491
        )
    requested = params.get("scope", "")
    scopes.parse_delegated(requested)
    if platform.deny_authorize or _cancelled(request, params):
        raise AadError(400, "access_denied", 65004, "User declined to consent to access the app.")
    if platform.login_form and request.method != "POST":
        return None
    return platform.grants.new_code(
        AuthCode(
            client_id=params["client_id"],
            redirect_uri=redirect_uri,
            code_challenge=challenge,
            scopes=tuple(requested.split()),
            nonce=params.get("nonce"),
            issued_at_s=platform.clock.now(),
        )
    )


async def handle_admin_consent_v1(request: web.Request, platform: IdentityPlatform) -> web.Response:
    """`/{tenant}/adminconsent`: `?tenant&state&admin_consent=True` or `error=permission_denied`."""
    params = await _params(request)
    try:
        redirect_uri = _trusted_redirect(request, platform, params, allow_common=True)
    except AadError as exc:
        return _error_page(exc)
    state = params.get("state")
    if platform.login_form and request.method != "POST":
        return _consent_form(request, params, platform)
    if platform.decline_consent or _cancelled(request, params):
        reply = {
            "error": "permission_denied",
            "error_description": "The admin canceled the request",
            "state": state,
        }
        return _redirect(redirect_uri, reply, "query")
    platform.grant_admin_consent(params["client_id"])
    reply = {"tenant": platform.tenant.tenant_id, "state": state, "admin_consent": "True"}
    return _redirect(redirect_uri, reply, "query")


async def handle_admin_consent_v2(request: web.Request, platform: IdentityPlatform) -> web.Response:
    """`/{tenant}/v2.0/adminconsent`: scope (`.default`) required; `common` is not allowed."""
    params = await _params(request)
    try:
        redirect_uri = _trusted_redirect(request, platform, params, allow_common=False)
    except AadError as exc:
        return _error_page(exc)
    state = params.get("state")
    scope = params.get("scope", "")
    try:
        if not scope:
            raise aad_errors.invalid_request(
                "The request body must contain the following parameter: 'scope'."
            )
        scopes.check_client_credentials_scope(scope)
    except AadError as exc:
        return _redirect(redirect_uri, _error_params(exc, state), "query")
    if platform.login_form and request.method != "POST":
        return _consent_form(request, params, platform)
    if platform.decline_consent or _cancelled(request, params):
        reply = {
            "admin_consent": "True",
            "error": "consent_required",
            "error_description": _DECLINED,
            "state": state,
        }
        return _redirect(redirect_uri, reply, "query")
    platform.grant_admin_consent(params["client_id"])
    reply = {
        "admin_consent": "True",
        "tenant": platform.tenant.tenant_id,
        "scope": scope,
        "state": state,
    }
    return _redirect(redirect_uri, reply, "query")


# -- helpers ----------------------------------------------------------------------------------


async def _params(request: web.Request) -> dict[str, str]:
    params = dict(request.query)
    if request.method == "POST":
        form = await request.post()
        params.update({key: value for key, value in form.items() if isinstance(value, str)})
    return params


def _cancelled(request: web.Request, params: Mapping[str, str]) -> bool:
    return request.method == "POST" and params.get("action") == "cancel"


def _trusted_redirect(
    request: web.Request,
    platform: IdentityPlatform,
    params: Mapping[str, str],
    *,
    allow_common: bool,
) -> str:
    tenant = request.match_info["tenant"]
    if not platform.matches_tenant(tenant, allow_common=allow_common):
        if tenant.lower() == "common":
            raise AadError(
                400,
                "invalid_request",
                90130,
                "Application is not supported over the /common or /consumers endpoints. "
                "Please use the /organizations or tenant-specific endpoint.",
            )
        raise aad_errors.unknown_tenant(tenant)
    client_id = params.get("client_id", "")
    if not platform.is_registered_client(client_id):
        raise aad_errors.unknown_application(client_id, platform.tenant.tenant_id)
    redirect_uri = params.get("redirect_uri", "")
    if not platform.redirect_uri_allowed(redirect_uri):
        raise AadError(
            400,
            "invalid_request",
            50011,
            f"The redirect URI '{redirect_uri}' specified in the request does not match the "
            f"redirect URIs configured for the application '{client_id}'.",
        )
    return redirect_uri


def _error_params(exc: AadError, state: str | None) -> dict[str, str | None]:
    return {"error": exc.error, "error_description": exc.short_description(), "state": state}


def _redirect(redirect_uri: str, reply: Mapping[str, str | None], mode: str) -> web.Response:
    present = {key: value for key, value in reply.items() if value is not None}
    if mode == "form_post":
        return _form_post(redirect_uri, present)
    separator = "#" if mode == "fragment" else ("&" if "?" in redirect_uri else "?")
    location = f"{redirect_uri}{separator}{urlencode(present)}"
    return web.Response(status=302, headers={"Location": location, "Cache-Control": "no-store"})


def _hidden_inputs(fields: Mapping[str, str]) -> str:
    return "".join(
        f'<input type="hidden" name="{html.escape(key)}" value="{html.escape(value)}">'
        for key, value in fields.items()
        if key != "action"
    )


def _form_post(redirect_uri: str, fields: Mapping[str, str]) -> web.Response:
    body = (
        "<!doctype html><html><head><title>Working...</title></head>"
        '<body onload="document.forms[0].submit()">'
        f'<form method="POST" action="{html.escape(redirect_uri)}">{_hidden_inputs(fields)}'
        "<noscript><button>Continue</button></noscript></form></body></html>"
    )
    return web.Response(text=body, content_type="text/html")


def _login_form(
    request: web.Request, params: Mapping[str, str], title: str, prompt: str
) -> web.Response:
    body = (
        f"<!doctype html><html><head><title>{html.escape(title)}</title></head><body>"
        f"<h1>{html.escape(title)}</h1><p>{html.escape(prompt)}</p>"
        f'<form method="POST" action="{html.escape(request.path)}">{_hidden_inputs(params)}'
        '<button type="submit" name="action" value="accept">Accept</button> '
        '<button type="submit" name="action" value="cancel">Cancel</button>'
        "</form></body></html>"
    )
    return web.Response(text=body, content_type="text/html", headers={"Cache-Control": "no-store"})


def _consent_form(
    request: web.Request, params: Mapping[str, str], platform: IdentityPlatform
) -> web.Response:
    prompt = (
        f"{platform.tenant.app_display_name} asks to read all users' full profiles "
        f"for your organization. Signed in as {platform.tenant.admin_upn}."
    )
    return _login_form(request, params, "Permissions requested", prompt)


def _error_page(exc: AadError) -> web.Response:
    body = (
        "<!doctype html><html><head><title>Sign in to your account</title></head><body>"
        f"<h1>Sorry, but we're having trouble signing you in.</h1>"
        f"<p>{html.escape(exc.short_description())}</p></body></html>"
    )
    return web.Response(status=exc.status, text=body, content_type="text/html")
