"""The popup's data: users in scope page by page, live conflict previews, auto-assign and
the outcome per user of Create Extensions."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from admin.wording import plain
from store import Database
from store.directory import get_bindings, get_directory_users, get_extensions
from store.models import DirectoryUser, Extension, Link
from worker.applier import ApplyResult
from worker.planner import (
    Action,
    ActionKind,
    ConflictKind,
    Plan,
    PlanInput,
    link_candidates,
    plan_selection,
)
from worker.planner.actions import Reason
from worker.rounds import link_policy

MAX_PAGE = 200
USERS_TTL_S = 5.0


@dataclass(frozen=True, slots=True)
class UserRow:
    id: str
    name: str
    email: str
    phone: str
    number: str | None  # the current extension, when bound
    # Bound to an extension the PBX showed disabled at its last read: "Re-enable" is offered.
    disabled: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "email": self.email,
            "phone": self.phone,
            "number": self.number,
            "disabled": self.disabled,
        }


async def users_in_scope(db: Database, link: Link) -> list[UserRow]:
    """Every active user the policy counts (deleted, disabled and out-of-scope ones are not
    offered), ordered by name."""
    users = await get_directory_users(db, link.id)
    extensions = await get_extensions(db, link.id)
    inp = PlanInput(
        users=users,
        extensions=extensions,
        bindings=await get_bindings(db, link.id),
        policy=link_policy(link.settings),
        now=time.time(),
    )
    bound = inp.binding_by_user
    rows = [
        _row(user, inp, bound[uid].number if uid in bound else None, extensions)
        for uid, user in users.items()
        if inp.standing(uid) is Reason.ACTIVE
    ]
    return sorted(rows, key=lambda r: (r.name.lower(), r.email))


class UsersCache:
    """The popup asks for page after page while an admin types: reading and ranking 10,000
    users takes about half a second, so keep the list a few seconds (and drop it on our own
    writes); the worker's changes show within the TTL."""

    def __init__(self, ttl_s: float = USERS_TTL_S) -> None:
        self.ttl_s = ttl_s
        self._rows: dict[int, tuple[float, float, list[UserRow]]] = {}

    async def get(self, db: Database, link: Link) -> list[UserRow]:
        now = time.monotonic()
        cached = self._rows.get(link.id)
        if cached is not None and cached[0] > now and cached[1] == link.updated_at:
            return cached[2]
        rows = await users_in_scope(db, link)
        self._rows[link.id] = (now + self.ttl_s, link.updated_at, rows)
        return rows

    def drop(self, link_id: int) -> None:
        self._rows.pop(link_id, None)


def _row(
    user: DirectoryUser, inp: PlanInput, number: str | None, extensions: Mapping[str, Extension]
) -> UserRow:
    phones = [*user.business_phones, user.mobile_phone or ""]
    ext = extensions.get(number) if number else None
    return UserRow(
        id=user.id,
        name=user.display_name or " ".join(p for p in (user.given_name, user.surname) if p),
        email=inp.email(user.id) or user.mail or user.user_principal_name or "",
        phone=next((p for p in phones if p), ""),
        number=number,
        disabled=ext is not None and ext.disabled,
    )


def search(rows: Sequence[UserRow], text: str) -> list[UserRow]:
    needle = text.strip().lower()
    if not needle:
        return list(rows)
    return [
        r
        for r in rows
        if needle in r.name.lower()
        or needle in r.email.lower()
        or needle in r.phone
        or needle == (r.number or "")
    ]


def action_json(action: Action, inp: PlanInput | None = None) -> dict[str, Any]:
    """With `inp`, an email conflict also names the extensions the user could be linked to
    ("Link to 250" / "Link to 251"): those with the user's email that no one is linked to."""
    link_to: tuple[str, ...] = ()
    if inp is not None and action.conflict is ConflictKind.EMAIL and action.user_id:
        link_to = link_candidates(inp, action.user_id)
    return {
        "link_to": list(link_to),
        "status": action.kind.value,
        "number": action.number,
        "conflict": action.conflict.value if action.conflict else None,
        "message": _said(action.message, action.notes),
        "suggested_number": action.suggested_number,
    }


def _said(message: str, notes: Sequence[str] = ()) -> str:
    """The message and its notes (an unparsable phone kept as written) in the admin's words."""
    return plain("; ".join(m for m in (message, *notes) if m))


def preview(
    inp: PlanInput, chosen: Sequence[tuple[str, str | None]], visible: Sequence[str]
) -> dict[str, Any]:
    """What Create Extensions would do for the chosen users, and, for users on screen who are
    not chosen, what they would get if chosen next (their email conflicts show at once)."""
    plan = plan_selection(inp, chosen)
    chosen_ids = {uid for uid, _ in chosen}
    results = {a.user_id: action_json(a, inp) for a in plan.actions if a.user_id}
    others = [uid for uid in visible if uid not in chosen_ids]
    if others:
        extra = plan_selection(inp, [*chosen, *((uid, None) for uid in others)])
        for action in extra.actions:
            if action.user_id in others:
                results[action.user_id] = action_json(action, inp)
    conflicts = sorted(a.user_id for a in plan.by_kind(ActionKind.CONFLICT) if a.user_id)
    visible_ids = set(visible)
    return {
        "counts": plan.counts(),
        "conflicts": conflicts,
        "results": {uid: r for uid, r in results.items() if uid in visible_ids},
    }


def auto_assign(inp: PlanInput, user_ids: Sequence[str]) -> dict[str, str]:
    """Sequential numbers for the chosen users, as the planner would hand them out."""
    plan = plan_selection(inp, [(uid, None) for uid in user_ids])
    return {
        a.user_id: a.number
        for a in plan.actions
        if a.user_id and a.number and a.kind in (ActionKind.CREATE, ActionKind.BIND)
    }


def outcomes(plan: Plan, result: ApplyResult) -> list[dict[str, Any]]:
    """Create Extensions, per user: created / linked / failed / not created and why."""
    failed = {id(a): why for a, why in result.failed}
    failed_by_user = {a.user_id: why for a, why in result.failed}
    # A create whose number was taken on the PBX went to the next free one.
    moved = {id(planned): done for planned, done in result.renumbered}
    rows = []
    for action in plan.actions:
        action = moved.get(id(action), action)
        why = failed.get(id(action)) or failed_by_user.get(action.user_id)
        if action.kind in (ActionKind.CREATE, ActionKind.BIND):
            verb = "created" if action.kind is ActionKind.CREATE else "linked"
            outcome, message = ("failed", why) if why else (verb, action.message)
        else:
            outcome, message = "not created", action.message
        rows.append(
            {
                "user_id": action.user_id,
                "email": action.email,
                "number": action.number,
                "outcome": outcome,
                "conflict": action.conflict.value if action.conflict else None,
                "message": _said(message or "", action.notes),
                "suggested_number": action.suggested_number,
            }
        )
    return rows
