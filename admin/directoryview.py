"""The users ↔ extensions view: every Microsoft 365 user in scope with its extension, state
and last change, and every extension no user is linked to. Built from what the last round
stored (directory, bindings, the PBX list as last read, the audit trail): no call to Graph
or the PBX, so it answers at once for 10,000 users."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from store import Database
from store.directory import get_bindings, get_directory_users, get_extensions
from store.models import Link
from store.records import last_changes
from worker.planner import PlanInput, Reason, link_candidates
from worker.rounds import link_policy

MAX_PAGE = 200
VIEWS = ("users", "extensions")


@dataclass(frozen=True, slots=True)
class ViewRow:
    user_id: str | None
    name: str
    email: str
    number: str | None
    # linked | disabled | no_extension | no_email | email_conflict | extension_missing | unlinked
    state: str
    detail: str
    last_change: float | None
    last_action: str | None
    link_to: tuple[str, ...] = ()
    can_reenable: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "user_id": self.user_id,
            "name": self.name,
            "email": self.email,
            "number": self.number,
            "state": self.state,
            "detail": self.detail,
            "last_change": self.last_change,
            "last_action": self.last_action,
            "link_to": list(self.link_to),
            "can_reenable": self.can_reenable,
        }

    def matches(self, needle: str) -> bool:
        return (
            needle in self.name.lower()
            or needle in self.email.lower()
            or needle == (self.number or "")
            or needle in self.state.replace("_", " ")
        )


async def view_rows(db: Database, link: Link) -> tuple[list[ViewRow], list[ViewRow]]:
    """(users in scope, extensions with no user), each sorted for display."""
    inp = PlanInput(
        users=await get_directory_users(db, link.id),
        extensions=await get_extensions(db, link.id),
        bindings=await get_bindings(db, link.id),
        policy=link_policy(link.settings),
        now=time.time(),
    )
    changes = await last_changes(db, link.id)
    users = [_user_row(inp, uid, changes) for uid in inp.users if _in_view(inp, uid)]
    users.sort(key=lambda r: (r.name.lower(), r.email))
    spare = [
        _extension_row(inp, number, changes)
        for number in inp.extensions
        if number not in inp.binding_by_number
    ]
    spare.sort(key=lambda r: (len(r.number or ""), r.number or ""))
    return users, spare


def _in_view(inp: PlanInput, uid: str) -> bool:
    # In scope and here: active users, plus leavers still linked (their extension's state
    # is what an admin looks for).
    return inp.standing(uid) is Reason.ACTIVE or uid in inp.binding_by_user


def _user_row(inp: PlanInput, uid: str, changes: dict[str, tuple[float, str]]) -> ViewRow:
    user = inp.users[uid]
    name = user.display_name or " ".join(p for p in (user.given_name, user.surname) if p)
    email = inp.email(uid) or user.mail or user.user_principal_name or ""
    binding = inp.binding_by_user.get(uid)
    standing = inp.standing(uid)
    if binding is not None:
        number = binding.number
        at, action = changes.get(number, (None, None))
        ext = inp.extensions.get(number)
        if ext is None:
            state, detail = "extension_missing", f"extension {number} is not on the PBX"
        elif ext.disabled:
            why = "disabled by this link" if binding.disabled_by_us else "disabled on the PBX"
            state, detail = "disabled", why
        else:
            state, detail = "linked", ""
        if standing is not Reason.ACTIVE:
            detail = f"{detail}; user: {standing.value.replace('_', ' ')}".lstrip("; ")
        can = ext is not None and ext.disabled and standing is Reason.ACTIVE
        return ViewRow(uid, name, email, number, state, detail, at, action, can_reenable=can)
    candidates = link_candidates(inp, uid)
    holders = inp.numbers_by_email.get(email.lower(), ()) if email else ()
    if holders:
        where = ", ".join(holders)
        detail = f"{email} is already on extension {where}"
        return ViewRow(uid, name, email, None, "email_conflict", detail, None, None, candidates)
    if inp.email(uid) is None:
        # Vodia needs an email for an extension; the planner skips the user (no_email).
        detail = "no usable email in Microsoft 365: give the user a mail address"
        return ViewRow(uid, name, email, None, "no_email", detail, None, None)
    return ViewRow(uid, name, email, None, "no_extension", "waiting for a number", None, None)


def _extension_row(inp: PlanInput, number: str, changes: dict[str, tuple[float, str]]) -> ViewRow:
    ext = inp.extensions[number]
    at, action = changes.get(number, (None, None))
    name = " ".join(p for p in (ext.first_name, ext.last_name) if p)
    state = "disabled" if ext.disabled else "unlinked"
    detail = "disabled, linked to no user" if ext.disabled else "linked to no Microsoft 365 user"
    return ViewRow(None, name, ext.email, number, state, detail, at, action)


def search(rows: Sequence[ViewRow], text: str) -> list[ViewRow]:
    needle = text.strip().lower()
    return [r for r in rows if r.matches(needle)] if needle else list(rows)


class ViewCache:
    """Keep the built rows a few seconds: an admin types a search and pages on; our own
    writes drop the entry, the worker's show within the TTL."""

    def __init__(self, ttl_s: float = 5.0) -> None:
        self.ttl_s = ttl_s
        self._rows: dict[int, tuple[float, float, tuple[list[ViewRow], list[ViewRow]]]] = {}

    async def get(self, db: Database, link: Link) -> tuple[list[ViewRow], list[ViewRow]]:
        now = time.monotonic()
        cached = self._rows.get(link.id)
        if cached is not None and cached[0] > now and cached[1] == link.updated_at:
            return cached[2]
        rows = await view_rows(db, link)
        self._rows[link.id] = (now + self.ttl_s, link.updated_at, rows)
        return rows

    def drop(self, link_id: int) -> None:
        self._rows.pop(link_id, None)
