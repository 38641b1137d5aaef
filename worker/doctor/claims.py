"""The permissions an access token carries, read from its claims.

The token is our own, fresh from the identity platform over TLS, so its claims are read
without verifying the signature: the doctor only wants to know what was granted, and Graph
stays the judge of whether the token is valid. Microsoft documents application permissions
in the `roles` claim (a JSON array) and delegated ones in `scp` (one space-separated string):
https://learn.microsoft.com/en-us/entra/identity-platform/access-token-claims-reference
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# Per permission we need, the wider ones that also cover it, as the permission tables of
# https://learn.microsoft.com/en-us/graph/api/user-list and
# https://learn.microsoft.com/en-us/graph/api/group-list-transitivemembers list them.
COVERED_BY: Mapping[str, frozenset[str]] = {
    "User.Read.All": frozenset(
        {"User.Read.All", "User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"}
    ),
    "GroupMember.Read.All": frozenset(
        {
            "GroupMember.Read.All",
            "GroupMember.ReadWrite.All",
            "Group.Read.All",
            "Group.ReadWrite.All",
            "Directory.Read.All",
            "Directory.ReadWrite.All",
        }
    ),
}

GUID = re.compile(r"[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")


class UnreadableToken(ValueError):
    """The access token is not a JWT whose claims we can read."""


@dataclass(frozen=True, slots=True)
class Granted:
    permissions: frozenset[str]
    claim: str  # "roles" or "scp": where they were found
    tenant_id: str | None  # the `tid` claim


def is_guid(text: str) -> bool:
    return GUID.fullmatch(text.strip()) is not None


def token_claims(token: str) -> dict[str, Any]:
    parts = token.split(".")
    if len(parts) != 3:
        raise UnreadableToken("not a JWT (expected three dot-separated parts)")
    payload = parts[1]
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (binascii.Error, ValueError) as exc:
        raise UnreadableToken(f"the claims do not decode: {exc}") from None
    if not isinstance(claims, dict):
        raise UnreadableToken("the claims are not a JSON object")
    return claims


def granted(token: str, *, delegated: bool) -> Granted:
    """What the token allows: `scp` for a delegated token, `roles` for an application one."""
    claims = token_claims(token)
    tid = claims.get("tid")
    tenant = tid if isinstance(tid, str) else None
    if delegated:
        scp = claims.get("scp")
        names = scp.split() if isinstance(scp, str) else []
        return Granted(frozenset(names), "scp", tenant)
    roles = claims.get("roles")
    names = [r for r in roles if isinstance(r, str)] if isinstance(roles, list) else []
    return Granted(frozenset(names), "roles", tenant)


def required_permissions(scope: str) -> tuple[str, ...]:
    """What the link's scope needs: users always, group members when scoped by groups."""
    return ("User.Read.All", "GroupMember.Read.All") if scope == "groups" else ("User.Read.All",)


def missing_permissions(have: frozenset[str], needed: tuple[str, ...]) -> tuple[str, ...]:
    # Entra spells permission names with this casing, but compare without it to be lenient.
    lowered = {name.lower() for name in have}
    return tuple(
        name
        for name in needed
        if not any(wider.lower() in lowered for wider in COVERED_BY.get(name, {name}))
    )
