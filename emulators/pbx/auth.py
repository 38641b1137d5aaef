"""Who is calling: HTTP Basic, or a `session` cookie from one of the two login flows.

Principals are the system admin ("admin"), a tenant admin ("admin@{domain}") or, via a
3rd-party token, a domain or an extension; scopes decide 403 versus 401.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import string
from dataclasses import dataclass

from aiohttp import web

from emulators.clock import Clock
from emulators.pbx.config import PbxEmulatorConfig

THIRD_PARTY_TOKEN_TTL_S = 10.0
_KEY_ALPHABET = string.ascii_letters + string.digits


@dataclass(frozen=True, slots=True)
class Principal:
    kind: str  # "system" | "tenant" | "domain" | "user"
    domain: str | None = None
    extension: str | None = None

    def may_use_system(self) -> bool:
        return self.kind == "system"

    def may_admin(self, domain: str) -> bool:
        return self.kind == "system" or (self.kind == "tenant" and self.domain == domain)


@dataclass(slots=True)
class _Session:
    principal: Principal
    expires_at: float


def new_key() -> str:
    return "".join(secrets.choice(_KEY_ALPHABET) for _ in range(20))


class Authenticator:
    def __init__(self, config: PbxEmulatorConfig, clock: Clock) -> None:
        self._config = config
        self._clock = clock
        self._sessions: dict[str, _Session] = {}
        self._tokens: dict[str, _Session] = {}  # 3rd-party tokens not yet exchanged

    def check_password(self, username: str, password: str) -> Principal | None:
        expected, principal = self._account(username)
        if expected is None or principal is None:
            return None
        if not hmac.compare_digest(password.encode(), expected.encode()):
            return None
        return principal

    def check_md5(self, username: str, md5_hex: str) -> Principal | None:
        expected, principal = self._account(username)
        if expected is None or principal is None:
            return None
        digest = hashlib.md5(expected.encode(), usedforsecurity=False).hexdigest()
        return principal if hmac.compare_digest(md5_hex.lower().encode(), digest.encode()) else None

    def from_request(self, request: web.Request) -> Principal | None:
        """The caller's principal; raises 401 for a bad Basic header, None if no credentials."""
        header = request.headers.get("Authorization", "")
        if header.lower().startswith("basic "):
            username, password = _decode_basic(header[6:])
            principal = self.check_password(username, password)
            if principal is None:
                raise unauthorized()
            return principal
        key = request.cookies.get("session")
        if key:
            session = self._sessions.get(key)
            if session is None or session.expires_at < self._clock.now():
                self._sessions.pop(key, None)
                raise unauthorized()
            return session.principal
        return None

    def open_session(self, principal: Principal, key: str | None = None) -> str:
        key = key or new_key()
        expires_at = self._clock.now() + self._config.session_timeout_s
        self._sessions[key] = _Session(principal, expires_at)
        return key

    def close_session(self, key: str) -> bool:
        return self._sessions.pop(key, None) is not None

    def issue_token(self, principal: Principal) -> str:
        key = new_key()
        self._tokens[key] = _Session(principal, self._clock.now() + THIRD_PARTY_TOKEN_TTL_S)
        return key

    def exchange_token(self, key: str) -> bool:
        """A token works once, within its 10 s; it then becomes the session key."""
        token = self._tokens.pop(key, None)
        if token is None or token.expires_at < self._clock.now():
            return False
        self.open_session(token.principal, key)
        return True

    def _account(self, username: str) -> tuple[str | None, Principal | None]:
        if username == self._config.admin_user:
            return self._config.admin_password, Principal("system")
        name, _, domain = username.partition("@")
        if name == "admin" and domain in self._config.domains:
            return self._config.tenant_admin_password, Principal("tenant", domain)
        return None, None


def _decode_basic(encoded: str) -> tuple[str, str]:
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise unauthorized() from None
    username, sep, password = decoded.partition(":")
    if not sep:
        raise unauthorized()
    return username, password


def pbx_error(status: int, message: str) -> web.Response:
    """The PBX's error bodies are undocumented beyond being JSON: keep them small."""
    return web.json_response({"error": message}, status=status)


def unauthorized() -> web.HTTPException:
    return web.HTTPUnauthorized(
        text='{"error":"Provide HTTP Basic Auth or a valid session cookie"}',
        content_type="application/json",
        headers={"WWW-Authenticate": 'Basic realm="Vodia PBX"'},
    )


def forbidden(message: str = "Forbidden") -> web.HTTPException:
    return web.HTTPForbidden(text=json.dumps({"error": message}), content_type="application/json")
