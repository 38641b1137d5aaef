"""Numbers the PBX gives to accounts that are not extensions, in words for messages."""

from __future__ import annotations

# Vodia's usertype values (OpenAPI v70.3 `addacc` type enum, `/users` rows).
_KINDS = {
    "acds": "an agent group (queue)",
    "hunts": "a hunt group",
    "attendants": "an auto attendant",
    "ivrnodes": "an IVR node",
    "conferences": "a conference room",
    "hoots": "a paging group",
    "orbits": "a park orbit",
    "srvflags": "a service flag",
    "callingcards": "a calling card account",
    "colines": "a call-out line",
    "alias": "an alias of another account",
}


def describe_account(usertype: str) -> str:
    """ "a hunt group" for "hunts"; unknown kinds are named as the PBX spells them."""
    return _KINDS.get(usertype, f"another PBX account ({usertype})")
