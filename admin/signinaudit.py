"""Sign-ins (ok and failed) and sign-outs in the audit trail of the links they concern.

The audit trail is per link: the daemon's administrator signs in to every link, a PBX admin to
the links configured with that account. The password is never an argument here, and a name
that is no known account is not written either: people type their password into the user
name field, and that text must not land in the trail."""

from __future__ import annotations

import hmac

from admin.sessions import Principal
from store import Database
from store.admins import get_admin_account
from store.links import list_links
from worker.adminaudit import record_admin

SIGN_IN = "sign-in"
SIGN_OUT = "sign-out"
UNKNOWN_ACCOUNT = "unknown account"


async def _all_link_ids(db: Database) -> list[int]:
    return [lk.id for lk in await list_links(db)]


async def _links_of(db: Database, principal: Principal) -> list[int]:
    if principal.link_ids is None:
        return await _all_link_ids(db)
    return sorted(principal.link_ids)


async def record_signin_ok(db: Database, principal: Principal, address: str) -> None:
    await record_admin(
        db,
        await _links_of(db, principal),
        SIGN_IN,
        actor=f"admin:{principal.username}",
        reason=f"signed in from {address}",
    )


async def record_signin_failed(db: Database, username: str, address: str) -> None:
    account = await get_admin_account(db)
    links = await list_links(db)
    if account is not None and hmac.compare_digest(
        username.lower().encode(), account.username.lower().encode()
    ):
        targets, name = [lk.id for lk in links], account.username
    else:
        mine = [lk for lk in links if lk.pbx_user and lk.pbx_user.lower() == username.lower()]
        targets = [lk.id for lk in mine] or [lk.id for lk in links]
        name = mine[0].pbx_user if mine else UNKNOWN_ACCOUNT
    why = "wrong password" if name != UNKNOWN_ACCOUNT else "no such account"
    await record_admin(
        db,
        targets,
        SIGN_IN,
        actor=f"admin:{name}" if name != UNKNOWN_ACCOUNT else UNKNOWN_ACCOUNT,
        outcome="failed",
        reason=f"{why}; from {address}",
    )


async def record_signout(db: Database, principal: Principal) -> None:
    await record_admin(
        db, await _links_of(db, principal), SIGN_OUT, actor=f"admin:{principal.username}"
    )
