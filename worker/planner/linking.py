"""An administrator's way out of a conflict: link a user to an existing extension, or
re-enable a linked extension that is disabled. Each is a one-action plan (or a refusal
that writes nothing), so it goes through the same applier and audit trail as a round."""

from __future__ import annotations

from worker.planner.actions import Action, ActionKind, ConflictKind, Plan, Reason
from worker.planner.directory import changes_for
from worker.planner.inputs import PlanInput


def link_candidates(inp: PlanInput, user_id: str) -> tuple[str, ...]:
    """The extensions an unlinked user could be linked to: those that carry the user's email
    and are linked to no one (an email conflict's "Link to 250" / "Link to 251")."""
    if user_id in inp.binding_by_user or inp.standing(user_id) is not Reason.ACTIVE:
        return ()
    email = inp.email(user_id)
    if email is None:
        return ()
    holders = inp.numbers_by_email.get(email, ())
    return tuple(n for n in holders if n not in inp.binding_by_number)


def plan_link(inp: PlanInput, user_id: str, number: str) -> Plan:
    """Bind `user_id` to the existing extension `number` and bring its directory-owned
    fields in line. Refused (a conflict or skip, nothing written) unless the user is active,
    in scope and unlinked and the extension exists and is linked to no one."""
    return Plan.of("link", [_link(inp, user_id, number)])


def _link(inp: PlanInput, user_id: str, number: str) -> Action:
    if user_id not in inp.users:
        return _refuse(Reason.UNKNOWN_USER, user_id, number, None, "the user is not known")
    email = inp.email(user_id)
    binding = inp.binding_by_user.get(user_id)
    if binding is not None:
        msg = f"the user already has extension {binding.number}"
        return _refuse(Reason.ALREADY_BOUND, user_id, binding.number, email, msg)
    standing = inp.standing(user_id)
    if standing is not Reason.ACTIVE:
        words = standing.value.replace("_", " ")
        msg = f"the user cannot get an extension ({words})"
        return _refuse(standing, user_id, number, email, msg)
    if email is None:
        msg = "the user has no usable email (mail or user principal name)"
        return _conflict(ConflictKind.NO_EMAIL, user_id, number, None, msg)
    ext = inp.extensions.get(number)
    if ext is None:
        msg = f"extension {number} is not on the PBX"
        return _conflict(ConflictKind.NUMBER, user_id, number, email, msg)
    holder = inp.binding_by_number.get(number)
    if holder is not None:
        msg = f"extension {number} is already linked to user {holder.user_id}"
        return _conflict(ConflictKind.NUMBER, user_id, number, email, msg)
    profile = inp.profile(user_id, ext.cell)
    notes = profile.notes
    if ext.disabled:
        notes += (f"extension {number} is disabled; it stays disabled until re-enabled",)
    return Action(
        ActionKind.BIND,
        Reason.SELECTED,
        user_id,
        number,
        email,
        changes_for(profile, ext),
        f"linking to extension {number}, chosen by an administrator",
        notes=notes,
    )


def plan_reenable(inp: PlanInput, number: str) -> Plan:
    """Enable the disabled extension `number`, which must be linked to an active user (an
    extension with no user has nobody in Microsoft 365 to come back for)."""
    return Plan.of("reenable", [_reenable(inp, number)])


def _reenable(inp: PlanInput, number: str) -> Action:
    ext = inp.extensions.get(number)
    binding = inp.binding_by_number.get(number)
    if ext is None:
        return _refuse(Reason.EXTENSION_MISSING, None, number, None, f"{number} is not on the PBX")
    if binding is None:
        msg = f"extension {number} is linked to no Microsoft 365 user; link it first"
        return _refuse(Reason.UNMATCHED, None, number, ext.email or None, msg)
    uid = binding.user_id
    email = inp.email(uid) if uid in inp.users else None
    if not ext.disabled:
        return _refuse(Reason.ACTIVE, uid, number, email, f"extension {number} is enabled")
    standing = inp.standing(uid) if uid in inp.users else Reason.UNKNOWN_USER
    if standing is not Reason.ACTIVE:
        words = standing.value.replace("_", " ")
        msg = f"the linked user cannot have an enabled extension ({words})"
        return _refuse(standing, uid, number, email, msg)
    profile = inp.profile(uid, ext.cell)
    return Action(
        ActionKind.ENABLE,
        Reason.SELECTED,
        uid,
        number,
        email,
        changes_for(profile, ext),
        f"re-enabling extension {number}, chosen by an administrator",
        notes=profile.notes,
    )


def _refuse(
    reason: Reason, uid: str | None, number: str | None, email: str | None, msg: str
) -> Action:
    return Action(ActionKind.SKIP, reason, uid, number, email, message=msg)


def _conflict(
    kind: ConflictKind, uid: str, number: str | None, email: str | None, msg: str
) -> Action:
    return Action(
        ActionKind.CONFLICT, Reason.CONFLICT, uid, number, email, message=msg, conflict=kind
    )
