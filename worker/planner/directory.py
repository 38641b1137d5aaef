"""What the directory says a user's extension should hold, and whether the user still counts."""

from __future__ import annotations

import re
import unicodedata
from typing import NamedTuple

from store.models import DirectoryUser, Extension, Removal
from worker.planner.actions import FieldChange, Reason
from worker.planner.phones import already_e164, normalise_phone, same_cell
from worker.planner.policy import Policy

# Vodia field names, in the order changes are listed.
FIRST_NAME = "first_name"
LAST_NAME = "display_name"  # Vodia's display_name holds the *last* name
EMAIL = "email_address"
CELL = "cell_dis"
_EMAIL_RE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


class Profile(NamedTuple):
    """The directory-owned fields of one user; None means "leave the PBX's value alone".

    A named tuple rather than a dataclass: a sweep builds one per user, and this is cheaper.
    """

    first_name: str | None
    last_name: str | None
    email: str | None
    cell: str | None
    notes: tuple[str, ...] = ()


def clean_text(value: str | None) -> str:
    """Trimmed and NFC-composed, so "José" typed two ways is one name."""
    text = (value or "").strip()
    if text.isascii() or unicodedata.is_normalized("NFC", text):
        return text
    return unicodedata.normalize("NFC", text)


def clean_email(value: str | None) -> str:
    """Emails compare case-insensitively and trimmed; this is the form we compare and send."""
    return (value or "").strip().lower()


def usable_email(value: str | None) -> str | None:
    if not value:
        return None
    email = value.strip().lower()
    # A guest's UPN ("ann_contoso.com#EXT#@tenant.onmicrosoft.com") is no mailbox of theirs.
    if _EMAIL_RE.fullmatch(email) is None or "#ext#" in email:
        return None
    return email


def user_email(user: DirectoryUser, policy: Policy) -> str | None:
    if policy.email_source == "mail":
        return usable_email(user.mail)
    if policy.email_source == "upn":
        return usable_email(user.user_principal_name)
    return usable_email(user.mail) or usable_email(user.user_principal_name)


def user_names(user: DirectoryUser) -> tuple[str | None, str | None]:
    """(first, last): givenName and surname, else split from displayName on its last space."""
    given, surname = clean_text(user.given_name), clean_text(user.surname)
    if surname:
        return given, surname
    shown = " ".join(clean_text(user.display_name).split())
    if not shown:
        return (given, "") if given else (None, None)
    head, _, tail = shown.rpartition(" ")
    if given and shown == given:
        return given, ""
    if given and shown.startswith(given + " "):
        return given, shown[len(given) + 1 :]
    return (given or head), tail


def user_phone(user: DirectoryUser, policy: Policy) -> str | None:
    business = ""
    for phone in user.business_phones:
        if phone and not phone.isspace():
            business = phone
            break
    mobile = user.mobile_phone or ""
    if policy.phone_source == "none":
        return None
    if policy.phone_source == "business":
        return business
    if policy.phone_source == "mobile":
        return mobile
    return business or mobile


def profile_of(
    user: DirectoryUser, policy: Policy, email: str | None, current_cell: str = ""
) -> Profile:
    """The profile of `user`, whose email (by `user_email`) the caller already knows.

    `current_cell` is the bound extension's cell, if any: when it is already the E.164 form
    of the directory's number, the number need not be parsed again.
    """
    first, last = user_names(user)
    raw_phone = user_phone(user, policy)
    cell: str | None = None
    notes: tuple[str, ...] = ()
    if raw_phone and current_cell and already_e164(raw_phone, current_cell):
        cell = current_cell
    elif raw_phone is not None:
        cell, parsed = normalise_phone(raw_phone, policy.phone_region)
        if not parsed:
            notes = (
                f"{CELL}: {cell!r} is not a phone number in region {policy.phone_region}; "
                "kept as written",
            )
    return Profile(first, last, email, cell, notes)


def changes_for(profile: Profile, ext: Extension | None) -> tuple[FieldChange, ...]:
    """The directory-owned fields whose PBX value differs; all non-empty ones for a create."""
    if ext is None:
        return _fields_of_new(profile)
    out: list[FieldChange] = []
    # Plain equality first: almost every field is unchanged, and cleaning costs more.
    first, last, email, cell = profile.first_name, profile.last_name, profile.email, profile.cell
    if first is not None and ext.first_name != first and clean_text(ext.first_name) != first:
        out.append(FieldChange(FIRST_NAME, ext.first_name, first))
    if last is not None and ext.last_name != last and clean_text(ext.last_name) != last:
        out.append(FieldChange(LAST_NAME, ext.last_name, last))
    if email is not None and ext.email != email and clean_email(ext.email) != email:
        out.append(FieldChange(EMAIL, ext.email, email))
    if cell is not None and ext.cell != cell and not same_cell(ext.cell, cell):
        out.append(FieldChange(CELL, ext.cell, cell))
    return tuple(out)


def _fields_of_new(profile: Profile) -> tuple[FieldChange, ...]:
    out = []
    if profile.first_name:
        out.append(FieldChange(FIRST_NAME, "", profile.first_name))
    if profile.last_name:
        out.append(FieldChange(LAST_NAME, "", profile.last_name))
    if profile.email:
        out.append(FieldChange(EMAIL, "", profile.email))
    if profile.cell:
        out.append(FieldChange(CELL, "", profile.cell))
    return tuple(out)


def standing_of(user: DirectoryUser, policy: Policy, in_scope_ids: frozenset[str] | None) -> Reason:
    """Reason.ACTIVE, or why the user does not count (deleted, disabled, out of scope...).

    `in_scope_ids` must be lower-cased (PlanInput does it).
    """
    if user.removed is Removal.HARD:
        return Reason.HARD_DELETED
    if user.removed is Removal.SOFT:
        return Reason.SOFT_DELETED
    if user.account_enabled is False:
        return Reason.ACCOUNT_DISABLED
    # Graph omits userType unless selected; an unknown type is treated as a member.
    user_type = (user.user_type or "Member").lower()
    if user_type == "guest" and not policy.include_guests:
        return Reason.GUEST
    if user_type not in ("member", "guest"):
        return Reason.NOT_A_MEMBER
    if policy.scope == "groups":
        if in_scope_ids is None:
            return Reason.SCOPE_UNKNOWN
        # Graph ids are GUIDs; compare them case-insensitively (the set is lower-cased).
        if user.id not in in_scope_ids and user.id.lower() not in in_scope_ids:
            return Reason.OUT_OF_SCOPE
    return Reason.ACTIVE


def disables_for(reason: Reason, policy: Policy) -> bool:
    """Does the policy disable a bound extension when its user stands so?"""
    return {
        Reason.HARD_DELETED: policy.disable_on_hard_delete,
        Reason.SOFT_DELETED: policy.disable_on_soft_delete,
        Reason.ACCOUNT_DISABLED: policy.disable_on_account_disabled,
        Reason.GUEST: policy.disable_on_out_of_scope,
        Reason.NOT_A_MEMBER: policy.disable_on_out_of_scope,
        Reason.OUT_OF_SCOPE: policy.disable_on_out_of_scope,
    }.get(reason, False)
