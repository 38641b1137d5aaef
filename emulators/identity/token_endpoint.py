"""`POST /{tenant}/oauth2/v2.0/token`: client authentication and the three grants we serve.

Client authentication accepts `client_secret` in the body, HTTP Basic, or a
`client_assertion` JWT signed by a registered certificate (RS256 or PS256, located by
`x5t#S256` or `x5t`), as Entra does.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote, urlsplit

import jwt
from aiohttp import web
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa

from emulators.identity import aad_errors, scopes, tokens
from emulators.identity.aad_errors import AadError
from emulators.identity.platform import IdentityPlatform

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
_NO_STORE = {"Cache-Control": "no-store, no-cache", "Pragma": "no-cache"}


def request_origin(request: web.Request) -> str:
    """`https://host:port` of this request: the authority host clients used to reach us."""
    return str(request.url.origin()).rstrip("/")


async def handle_token(request: web.Request, platform: IdentityPlatform) -> web.Response:
    correlation_id = request.headers.get("client-request-id")
    try:
        if not platform.matches_tenant(request.match_info["tenant"]):
            raise aad_errors.unknown_tenant(request.match_info["tenant"])
        try:
            form = await request.post()
        except ValueError as exc:
            raise aad_errors.invalid_request(f"The request body could not be read: {exc}") from exc
        fields = {key: value for key, value in form.items() if isinstance(value, str)}
        client_id, appidacr = authenticate_client(platform, fields, request.headers)
        body = _grant(platform, fields, client_id, appidacr, request_origin(request))
    except AadError as exc:
        return exc.response(correlation_id, platform.clock.now())
    platform.tokens_issued += 1
    return web.json_response(body, headers=_NO_STORE)


def _grant(
    platform: IdentityPlatform, form: Mapping[str, str], client_id: str, appidacr: str, origin: str
) -> dict[str, Any]:
    grant_type = form.get("grant_type", "")
    if grant_type == "client_credentials":
        scopes.check_client_credentials_scope(form.get("scope", ""))
        return _app_token(platform, client_id, appidacr)
    if grant_type == "authorization_code":
        code = platform.grants.redeem_code(
            _required(form, "code"),
            client_id=client_id,
            redirect_uri=_required(form, "redirect_uri"),
            code_verifier=form.get("code_verifier"),
        )
        return _user_tokens(platform, form, client_id, code.scopes, code.nonce, origin)
    if grant_type == "refresh_token":
        grant = platform.grants.redeem_refresh_token(
            _required(form, "refresh_token"), client_id=client_id
        )
        return _user_tokens(platform, form, client_id, grant.scopes, None, origin)
    if not grant_type:
        _required(form, "grant_type")
    raise AadError(
        400,
        "unsupported_grant_type",
        70003,
        f"The app requested an unsupported grant type '{grant_type}'.",
    )


def _app_token(platform: IdentityPlatform, client_id: str, appidacr: str) -> dict[str, Any]:
    lifetime_s = platform.options.access_token_lifetime_s
    token = tokens.app_access_token(
        platform.tenant,
        client_id,
        now_s=platform.clock.now(),
        lifetime_s=lifetime_s,
        roles=platform.granted_roles(client_id),
        appidacr=appidacr,
    )
    return {
        "token_type": "Bearer",
        "expires_in": lifetime_s,
        "ext_expires_in": lifetime_s,
        "access_token": token,
    }


def _user_tokens(
    platform: IdentityPlatform,
    form: Mapping[str, str],
    client_id: str,
    granted: tuple[str, ...],
    nonce: str | None,
    origin: str,
) -> dict[str, Any]:
    if not platform.has_consent(client_id):
        raise aad_errors.consent_missing(client_id)
    requested = scopes.parse_delegated(
        " ".join(granted), consented=platform.app_roles_of(client_id)
    )
    lifetime_s = platform.options.access_token_lifetime_s
    now_s = platform.clock.now()
    body: dict[str, Any] = {
        "token_type": "Bearer",
        "scope": requested.response_scope(),
        "expires_in": lifetime_s,
        "ext_expires_in": lifetime_s,
        "access_token": tokens.user_access_token(
            platform.tenant, client_id, requested.scp(), now_s=now_s, lifetime_s=lifetime_s
        ),
    }
    if requested.offline_access:
        body["refresh_token"] = platform.grants.new_refresh_token(client_id, granted)
    if requested.openid:
        issuer = platform.issuer(origin)
        body["id_token"] = tokens.id_token(platform.tenant, client_id, issuer, nonce, now_s)
    if form.get("client_info") == "1":
        body["client_info"] = tokens.client_info(platform.tenant)
    return body


def _required(form: Mapping[str, str], name: str) -> str:
    value = form.get(name)
    if not value:
        raise aad_errors.invalid_request(
            f"The request body must contain the following parameter: '{name}'."
        )
    return value


# -- client authentication ------------------------------------------------------------------


def authenticate_client(
    platform: IdentityPlatform, form: Mapping[str, str], headers: Mapping[str, str]
) -> tuple[str, str]:
    """The caller's client_id and `appidacr` ("1" secret, "2" certificate), or an AadError."""
    basic = _basic_credentials(headers.get("Authorization", ""))
    client_id = form.get("client_id") or (basic[0] if basic else "")
    if not client_id:
        raise aad_errors.invalid_request(
            "The request body must contain the following parameter: 'client_id'."
        )
    if not platform.is_registered_client(client_id):
        raise aad_errors.unknown_application(client_id, platform.tenant.tenant_id)
    if form.get("client_assertion"):
        _check_assertion(platform, form, client_id)
        return client_id, "2"
    secret = form.get("client_secret") or (basic[1] if basic else "")
    if not secret:
        raise AadError(
            401,
            "invalid_client",
            7000218,
            "The request body must contain the following parameter: 'client_assertion' or "
            "'client_secret'.",
        )
    if not hmac.compare_digest(secret.encode(), platform.tenant.client_secret.encode()):
        raise aad_errors.bad_client_secret(client_id)
    if platform.client_secret_expired:
        raise aad_errors.expired_client_secret(client_id)
    return client_id, "1"


def _basic_credentials(header: str) -> tuple[str, str] | None:
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return None
    try:
        decoded = base64.b64decode(encoded, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    return (unquote(user), unquote(password)) if sep else None


def _check_assertion(platform: IdentityPlatform, form: Mapping[str, str], client_id: str) -> None:
    if form.get("client_assertion_type") != JWT_BEARER:
        raise aad_errors.invalid_request(
            f"The client_assertion_type must be '{JWT_BEARER}'.", 50027
        )
    assertion = form["client_assertion"]
    public_key = _assertion_key(platform, assertion)
    try:
        claims = jwt.decode(
            assertion,
            public_key,
            algorithms=["RS256", "PS256"],
            # The client signed with the wall clock, which knows nothing of our offset.
            options={"verify_aud": False, "verify_exp": False, "verify_nbf": False},
        )
    except jwt.InvalidTokenError as exc:
        raise _assertion_error(700027, "Client assertion failed signature validation.") from exc
    if claims.get("iss") != client_id or claims.get("sub") != client_id:
        raise _assertion_error(
            700021, "Client assertion application identifier doesn't match 'client_id' parameter."
        )
    if not urlsplit(str(claims.get("aud", ""))).path.endswith("/oauth2/v2.0/token"):
        raise _assertion_error(
            700212, "No matching federated identity record found for presented assertion audience."
        )
    now_s = time.time()
    if not float(claims.get("nbf", 0)) - 300 <= now_s < float(claims.get("exp", 0)) + 300:
        raise _assertion_error(700024, "Client assertion is not within its valid time range.")


def _assertion_key(platform: IdentityPlatform, assertion: str) -> rsa.RSAPublicKey:
    try:
        header = jwt.get_unverified_header(assertion)
    except jwt.DecodeError as exc:
        raise _assertion_error(50027, "JWT token is invalid or malformed.") from exc
    s256 = str(header.get("x5t#S256", "")).rstrip("=")
    sha1 = str(header.get("x5t", "")).rstrip("=")
    for thumbprint, cert in platform.certificates.items():
        cert_sha1 = base64.urlsafe_b64encode(cert.fingerprint(hashes.SHA1()))  # noqa: S303
        if thumbprint == s256 or (sha1 and cert_sha1.rstrip(b"=").decode() == sha1):
            key = cert.public_key()
            if isinstance(key, rsa.RSAPublicKey):
                return key
    raise _assertion_error(
        700027,
        "The certificate with identifier used to sign the client assertion is not registered on "
        "application.",
    )


def _assertion_error(code: int, message: str) -> AadError:
    return AadError(401, "invalid_client", code, message)
