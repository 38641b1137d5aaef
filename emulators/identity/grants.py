"""Authorization codes and refresh tokens: one-time codes with PKCE, rotating refresh tokens.

Like Entra, redeeming a refresh token returns a new one and leaves the old one valid;
revocation (an admin's "revoke sessions", a password reset) invalidates every refresh
token issued before it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

from emulators.clock import Clock
from emulators.identity import aad_errors
from emulators.identity.aad_errors import AadError


@dataclass(frozen=True, slots=True)
class AuthCode:
    client_id: str
    redirect_uri: str
    code_challenge: str
    scopes: tuple[str, ...]
    nonce: str | None
    issued_at_s: float


@dataclass(frozen=True, slots=True)
class RefreshGrant:
    client_id: str
    scopes: tuple[str, ...]
    issued_at_s: float
    expires_at_s: float
    generation: int


def s256(code_verifier: str) -> str:
    digest = hashlib.sha256(code_verifier.encode("utf-8")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class GrantStore:
    def __init__(
        self, clock: Clock, *, code_lifetime_s: float, refresh_token_lifetime_s: float
    ) -> None:
        self._clock = clock
        self._code_lifetime_s = code_lifetime_s
        self._refresh_lifetime_s = refresh_token_lifetime_s
        self._codes: dict[str, AuthCode] = {}
        self._redeemed_codes: set[str] = set()
        self._refresh: dict[str, RefreshGrant] = {}
        self._generation = 0
        self._revoked_at_s: float | None = None

    def new_code(self, code: AuthCode) -> str:
        value = "1.emu." + secrets.token_urlsafe(48)
        self._codes[value] = code
        return value

    def redeem_code(
        self, value: str, *, client_id: str, redirect_uri: str, code_verifier: str | None
    ) -> AuthCode:
        if value in self._redeemed_codes:
            raise aad_errors.invalid_grant(
                54005,
                "OAuth2 Authorization code was already redeemed, please retry with a new valid "
                "code or use an existing refresh token.",
            )
        code = self._codes.pop(value, None)
        if code is None:
            raise aad_errors.invalid_grant(
                9002313, "Invalid request. Request is malformed or invalid."
            )
        self._redeemed_codes.add(value)
        if self._clock.now() - code.issued_at_s > self._code_lifetime_s:
            raise aad_errors.invalid_grant(
                70008,
                "The provided authorization code or refresh token has expired due to inactivity.",
            )
        if code.client_id != client_id:
            raise aad_errors.invalid_grant(
                70000,
                "The request was denied because one or more scopes requested are unauthorized "
                "or expired.",
            )
        if code.redirect_uri != redirect_uri:
            raise aad_errors.invalid_grant(
                500117,
                f"The reply uri specified in the request isn't expected: '{redirect_uri}' does not "
                "match the reply address used in the authorization request.",
            )
        _check_verifier(code, code_verifier)
        return code

    def new_refresh_token(self, client_id: str, scopes: tuple[str, ...]) -> str:
        now = self._clock.now()
        value = "1.emu.rt." + secrets.token_urlsafe(64)
        self._refresh[value] = RefreshGrant(
            client_id=client_id,
            scopes=scopes,
            issued_at_s=now,
            expires_at_s=now + self._refresh_lifetime_s,
            generation=self._generation,
        )
        return value

    def redeem_refresh_token(self, value: str, *, client_id: str) -> RefreshGrant:
        grant = self._refresh.get(value)
        if grant is None or grant.client_id != client_id:
            raise aad_errors.invalid_grant(
                9002313, "Invalid request. Request is malformed or invalid."
            )
        if grant.generation < self._generation:
            raise self._revoked_error(grant)
        if self._clock.now() >= grant.expires_at_s:
            raise aad_errors.invalid_grant(
                700082,
                "The refresh token has expired due to inactivity. The token was issued on "
                f"{_iso(grant.issued_at_s)} and was inactive for "
                f"{int(self._refresh_lifetime_s // 86400)}.00:00:00.",
            )
        return grant

    def revoke_all(self) -> int:
        """Invalidate every refresh token issued so far; returns how many were live."""
        live = sum(1 for grant in self._refresh.values() if grant.generation == self._generation)
        self._generation += 1
        self._revoked_at_s = self._clock.now()
        return live

    def _revoked_error(self, grant: RefreshGrant) -> AadError:
        valid_from = _iso(self._revoked_at_s or self._clock.now())
        return aad_errors.invalid_grant(
            50173,
            "The provided grant has expired due to it being revoked, a fresh auth token is "
            "needed. The user might have changed or reset their password. The grant was issued "
            f"on '{_iso(grant.issued_at_s)}' and the TokensValidFrom date (before which tokens "
            f"are not valid) for this user is '{valid_from}'.",
        )

    @property
    def refresh_token_count(self) -> int:
        return len(self._refresh)


def _check_verifier(code: AuthCode, code_verifier: str | None) -> None:
    if not code_verifier or not hmac.compare_digest(s256(code_verifier), code.code_challenge):
        raise aad_errors.invalid_grant(
            501481,
            "The Code_Verifier does not match the code_challenge supplied in the authorization "
            "request.",
        )


def _iso(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.0000000Z", time.gmtime(seconds))
