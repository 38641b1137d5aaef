"""Claims of the tokens the emulated platform issues, and the check Graph runs on them.

Access tokens for Graph look like Entra's v1.0 tokens (`aud` https://graph.microsoft.com,
`iss` https://sts.windows.net/{tid}/); id tokens are v2.0 tokens issued by the
emulator's own authority so MSAL's issuer rules hold.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

import jwt

from emulators.identity.keys import b64url_json, signing_key
from emulators.tenant import EmulatedTenant

GRAPH_RESOURCE = "https://graph.microsoft.com"
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
GRAPH_AUDIENCES = (GRAPH_RESOURCE, f"{GRAPH_RESOURCE}/", GRAPH_APP_ID)
# Application permissions the registered app is configured for (granted by admin consent)
# unless the platform is told otherwise per app (IdentityOptions.app_roles, set_app_roles).
APP_ROLES = ("User.Read.All",)
# Any of these lets a caller read users (the wider ones include User.Read.All).
READ_USERS_PERMISSIONS = frozenset(
    {"User.Read.All", "User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"}
)
# Any of these lets a caller read groups and their (transitive) members: the least
# privileged is GroupMember.Read.All, User.Read.All is not enough (learn.microsoft.com/graph/
# api/group-list-transitivemembers, "Permissions"; group-list, group-get, group-list-members).
READ_GROUP_MEMBERS_PERMISSIONS = frozenset(
    {
        "GroupMember.Read.All",
        "GroupMember.ReadWrite.All",
        "Group.Read.All",
        "Group.ReadWrite.All",
        "Directory.Read.All",
        "Directory.ReadWrite.All",
    }
)
ADMIN_DISPLAY_NAME = "Emulator Admin"


@dataclass(frozen=True, slots=True)
class AccessClaims:
    """What Graph learns from a valid Bearer token."""

    app_id: str
    tenant_id: str
    oid: str
    roles: tuple[str, ...]
    scopes: tuple[str, ...]
    expires_at: float
    delegated: bool


class TokenRejected(Exception):
    """Graph refuses the Bearer token: `status` 401 and `code` InvalidAuthenticationToken."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


def service_principal_id(tenant: EmulatedTenant, client_id: str) -> str:
    """A stable object id for the app's service principal in the tenant."""
    return str(uuid.uuid5(uuid.UUID(tenant.tenant_id), f"sp:{client_id}"))


def _common(tenant: EmulatedTenant, now_s: float, lifetime_s: int) -> dict[str, Any]:
    iat = int(now_s)
    return {
        "aud": GRAPH_RESOURCE,
        "iss": f"https://sts.windows.net/{tenant.tenant_id}/",
        "iat": iat,
        "nbf": iat,
        "exp": iat + lifetime_s,
        "tid": tenant.tenant_id,
        "uti": uuid.uuid4().hex[:22],
        "ver": "1.0",
        "idp": f"https://sts.windows.net/{tenant.tenant_id}/",
    }


def app_access_token(
    tenant: EmulatedTenant,
    client_id: str,
    *,
    now_s: float,
    lifetime_s: int,
    roles: tuple[str, ...],
    appidacr: str,
) -> str:
    sp_id = service_principal_id(tenant, client_id)
    claims = _common(tenant, now_s, lifetime_s) | {
        "app_displayname": tenant.app_display_name,
        "appid": client_id,
        "appidacr": appidacr,
        "idtyp": "app",
        "oid": sp_id,
        "sub": sp_id,
    }
    if roles:
        # The roles admin consent granted; without consent Entra still issues the token,
        # just without a roles claim (graph-api.md §4.1).
        claims["roles"] = list(roles)
    return signing_key().sign(claims)


def user_access_token(
    tenant: EmulatedTenant,
    client_id: str,
    scopes: tuple[str, ...],
    *,
    now_s: float,
    lifetime_s: int,
) -> str:
    claims = _common(tenant, now_s, lifetime_s) | {
        "app_displayname": tenant.app_display_name,
        "appid": client_id,
        "appidacr": "1",
        "amr": ["pwd"],
        "idtyp": "user",
        "name": ADMIN_DISPLAY_NAME,
        "oid": tenant.admin_object_id,
        "scp": " ".join(scopes),
        "sub": _pairwise_sub(tenant.admin_object_id, GRAPH_APP_ID),
        "unique_name": tenant.admin_upn,
        "upn": tenant.admin_upn,
    }
    return signing_key().sign(claims)


def id_token(
    tenant: EmulatedTenant, client_id: str, issuer: str, nonce: str | None, now_s: float
) -> str:
    iat = int(now_s)
    claims: dict[str, Any] = {
        "aud": client_id,
        "iss": issuer,
        "iat": iat,
        "nbf": iat,
        "exp": iat + 3600,
        "name": ADMIN_DISPLAY_NAME,
        "oid": tenant.admin_object_id,
        "preferred_username": tenant.admin_upn,
        "rh": "0.emulated",
        "sub": _pairwise_sub(tenant.admin_object_id, client_id),
        "tid": tenant.tenant_id,
        "uti": uuid.uuid4().hex[:22],
        "ver": "2.0",
    }
    if nonce is not None:
        claims["nonce"] = nonce
    return signing_key().sign(claims)


def client_info(tenant: EmulatedTenant) -> str:
    """base64url `{"uid","utid"}`: MSAL builds the account's home_account_id from it."""
    return b64url_json(json.dumps({"uid": tenant.admin_object_id, "utid": tenant.tenant_id}))


def _pairwise_sub(object_id: str, client_id: str) -> str:
    # Entra's `sub` is unique per user and application; any stable mix of the two will do.
    return str(uuid.uuid5(uuid.UUID(object_id), client_id)).replace("-", "")


def decode_access_token(token: str, tenant_id: str, now_s: float) -> AccessClaims:
    """Check signature, audience, tenant and lifetime (against the emulated clock)."""
    key = signing_key()
    try:
        header = jwt.get_unverified_header(token)
        claims = jwt.decode(
            token,
            key.public_key,
            algorithms=["RS256"],
            audience=list(GRAPH_AUDIENCES),
            # Lifetime is judged by the emulated clock below, not the wall clock.
            options={"verify_exp": False, "verify_nbf": False, "verify_iat": False},
        )
    except jwt.InvalidAudienceError as exc:
        raise _invalid("Access token validation failure. Invalid audience.") from exc
    except jwt.DecodeError as exc:
        raise _invalid("CompactToken parsing failed with error code: 80049217") from exc
    except jwt.InvalidTokenError as exc:
        raise _invalid("Access token validation failure.") from exc
    if header.get("kid") != key.kid or claims.get("tid") != tenant_id:
        raise _invalid("Access token validation failure.")
    if now_s >= float(claims["exp"]):
        raise _invalid("Lifetime validation failed, the token is expired.")
    if now_s < float(claims.get("nbf", 0)) - 300:
        raise _invalid("Lifetime validation failed, the token is not yet valid.")
    return _access_claims(claims)


def _access_claims(claims: dict[str, Any]) -> AccessClaims:
    scp = str(claims.get("scp", ""))
    return AccessClaims(
        app_id=str(claims.get("appid", "")),
        tenant_id=str(claims["tid"]),
        oid=str(claims.get("oid", "")),
        roles=tuple(str(role) for role in claims.get("roles", ())),
        scopes=tuple(scp.split()),
        expires_at=float(claims["exp"]),
        delegated=claims.get("idtyp") == "user" or "scp" in claims,
    )


def _invalid(message: str) -> TokenRejected:
    return TokenRejected(401, "InvalidAuthenticationToken", message)
