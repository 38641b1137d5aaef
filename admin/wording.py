"""The words an administrator reads, in one place: Vodia's field codes, the planner's reason
codes and the audit trail's triggers turned into plain English. Every admin page (the Sync
Users popup, Setup, Activity, Overview) takes its words from here, so a field is called the
same everywhere and no internal code (`display_name`, `new_user:`, "round") leaks onto a page.

Plain dicts and functions only: no I/O, nothing of aiohttp."""

from __future__ import annotations

import re

# Vodia's account fields as the admin knows them. Vodia's `display_name` holds the *last*
# name (see worker/planner/directory.py), so it must never be shown as "display name".
FIELD_WORDS: dict[str, str] = {
    "first_name": "First name",
    "display_name": "Last name",
    "email_address": "Email",
    "cell_dis": "Cell phone",
    "disabled": "Disabled",
    "auth_mode": "Sign-in mode",
    "scope": "Scope",
    "group_ids": "Groups",
    "auto_create": "Automatic Extension Creation",
    "client_secret": "Client secret",
    "oauth_token": "OAuth token",
    "signed_in_as": "Signed in as",
    "ranges": "Extension number ranges",
    "reserved": "Reserved numbers",
    "protected": "Protected numbers",
    "phone_region": "Phone region",
    "cooloff_days": "Cool-off for freed numbers (days)",
    "disable_threshold_count": "Disable threshold (extensions)",
    "disable_threshold_percent": "Disable threshold (percent)",
    "disable_window_minutes": "Disable window (minutes)",
    "alert_emails": "Alert e-mail addresses",
    "sweep_interval_hours": "Full comparison every (hours)",
    "poll_interval_s": "Ask for changes every (seconds)",
    "safety_poll_s": "Safety check every (seconds)",
    "disable_on_soft_delete": "Disable when the user is deleted",
    "disable_on_hard_delete": "Disable when the user is permanently deleted",
    "disable_on_account_disabled": "Disable when sign-in is blocked",
    "disable_on_out_of_scope": "Disable when the user leaves the scope",
    "include_guests": "Include guest accounts",
    "unmatched_without_email": "Disable Unmatched also covers extensions without email",
}

# Why an action happened (the planner's `Reason` codes), as a phrase.
REASON_WORDS: dict[str, str] = {
    "active": "the user is active",
    "new_user": "created for a new Microsoft 365 user",
    "selected": "chosen in Sync Users & Create Extensions",
    "email_match": "linked: the extension already had the user's email",
    "fields_changed": "the user's details changed in Microsoft 365",
    "returned": "the user is back in Microsoft 365",
    "extension_missing": "the extension was missing on the PBX",
    "hard_deleted": "the user was deleted in Microsoft 365",
    "soft_deleted": "the user was deleted in Microsoft 365 (restorable for 30 days)",
    "account_disabled": "the user's account is disabled in Microsoft 365",
    "guest": "the user is a guest",
    "not_a_member": "the user is not a member of the organisation",
    "out_of_scope": "the user is outside the chosen scope",
    "scope_unknown": "the user's groups could not be read",
    "kept_by_policy": "kept enabled by this link's settings",
    "directory_incomplete": "the Microsoft 365 read was incomplete",
    "auto_create_off": "Automatic Extension Creation is off",
    "no_email": "the user has no usable email",
    "unknown_user": "the user is not in Microsoft 365",
    "already_bound": "the user already has an extension",
    "already_held": "already waiting for approval",
    "unmatched": "no Microsoft 365 user has this extension's email",
    "protected": "the number is protected",
    "excluded": "left out by an administrator",
    "not_renumbered": "its group rule would number it elsewhere; not renumbered",
    "conflict": "a conflict",
}

# What started it (the audit trail's `trigger`): {who} is the signed-in administrator.
_TRIGGER_WORDS: dict[str, str] = {
    "selection": "chosen by {who} in Sync Users & Create Extensions",
    "disable_unmatched": "by {who} in Disable Unmatched Extensions",
    "approval": "approved by {who}",
    "link_extension": "linked by {who}",
    "reenable": "re-enabled by {who}",
    "manual": "by {who} (Resync now)",
    "admin": "by {who}",
    "notification": "after a change in Microsoft 365",
    "lifecycle": "after a change in Microsoft 365",
    "recheck": "after a change in Microsoft 365",
    "retry": "retried automatically",
    "resync": "in a full comparison with Microsoft 365",
    "sweep": "in the 12-hour check",
}

# The engine's own words for its passes, as an administrator would say them.
ROUND_WORDS: dict[str, str] = {
    "round": "sync",
    "full": "full comparison",
    "sweep": "12-hour check",
}

_ACTOR_WORDS = {"worker": "", "system": "", "cli": "the command line"}

_CODE_RE = re.compile(r"\b(" + "|".join(map(re.escape, FIELD_WORDS)) + r")\b")
_REASON_PREFIX_RE = re.compile(r"^([a-z_]+): ?")


def field_label(code: str) -> str:
    """`display_name` -> "Last name"; an unknown code is shown tidied, never raw."""
    return FIELD_WORDS.get(code) or code.replace("_", " ").capitalize()


# The name the Activity page and the audit code use.
field_word = field_label


def reason_text(reason: str) -> str:
    """A reason code, or a stored "code: detail" (the audit trail's form), in words."""
    match = _REASON_PREFIX_RE.match(reason)
    if match and match.group(1) in REASON_WORDS:
        detail = plain(reason[match.end() :])
        words = REASON_WORDS[match.group(1)]
        return f"{words}: {detail}" if detail else words
    return REASON_WORDS.get(reason) or plain(reason)


def trigger_text(trigger: str, actor: str = "") -> str:
    """ "selection" by admin@x -> "chosen by admin@x in Sync Users & Create Extensions"."""
    # Admin-page actions are recorded as "admin:<user name>".
    name = actor.removeprefix("admin:")
    who = _ACTOR_WORDS.get(name, name) or "an administrator"
    template = _TRIGGER_WORDS.get(trigger)
    if template is None:
        return f"{trigger.replace('_', ' ')} ({who})"
    return template.format(who=who)


def plain(message: str) -> str:
    """A planner or applier message with Vodia's field codes replaced by their names
    ("directory changed display_name, cell_dis" -> "... Last name, Cell phone")."""
    return _CODE_RE.sub(lambda m: FIELD_WORDS[m.group(1)], message)
