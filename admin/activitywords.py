"""How the Activity page names the audit trail's codes: actions, outcomes, what triggered a
row and the planner's reason codes. The codes stay in the database, the API and the filter
values; the page and the CSV's word columns show these."""

from __future__ import annotations

ACTION_WORDS: dict[str, str] = {
    "create": "Extension created",
    "bind": "Linked to extension",
    "update": "Extension updated",
    "enable": "Extension re-enabled",
    "disable": "Extension disabled",
    "conflict": "Conflict",
    "held action approved": "Held action approved",
    "held action rejected": "Held action rejected",
    "setup saved": "Setup saved",
    "sign-in mode changed": "Sign-in mode changed",
    "settings changed": "Settings changed",
    "sign-in": "Sign-in",
    "sign-out": "Sign-out",
}
OUTCOME_WORDS: dict[str, str] = {
    "ok": "Done",
    "failed": "Failed",
    "found": "Found",
    "setup required": "Setup Required",
}
TRIGGER_WORDS: dict[str, str] = {
    "notification": "change from Microsoft 365",
    "sweep": "12-hour full comparison",
    "manual": "Resync now",
    "retry": "retry",
    "lifecycle": "subscription renewal",
    "resync": "resync",
    "recheck": "recheck",
    "selection": "chosen in Sync Users",
    "approval": "approval",
    "link_extension": "Link to extension",
    "reenable": "Re-enable",
    "disable_unmatched": "Disable Unmatched",
    "admin": "admin page",
}
REASON_WORDS: dict[str, str] = {
    "active": "active user",
    "new_user": "created for a new Microsoft 365 user",
    "selected": "chosen in Sync Users",
    "email_match": "same email as the user",
    "fields_changed": "changed in Microsoft 365",
    "returned": "the user is back",
    "extension_missing": "the extension was gone from the PBX",
    "hard_deleted": "user permanently deleted",
    "soft_deleted": "user deleted",
    "account_disabled": "sign-in blocked",
    "guest": "guest account",
    "not_a_member": "not a member",
    "out_of_scope": "left the scope",
    "scope_unknown": "scope could not be read",
    "kept_by_policy": "kept by the settings",
    "directory_incomplete": "directory read incomplete",
    "auto_create_off": "Automatic Extension Creation is off",
    "no_email": "no email",
    "unknown_user": "unknown user",
    "already_bound": "already linked",
    "already_held": "already held",
    "unmatched": "matches no Microsoft 365 user",
    "protected": "protected number",
    "excluded": "left out by the admin",
    "conflict": "conflict",
    # the conflict kinds (worker/planner/actions.py ConflictKind)
    "email": "email conflict",
    "number": "number already in use",
    "duplicate_selection": "number chosen twice",
    "range_full": "number range full",
}


def action_word(code: str) -> str:
    return ACTION_WORDS.get(code, code)


def outcome_word(code: str) -> str:
    return OUTCOME_WORDS.get(code, code)


def trigger_word(code: str) -> str:
    return TRIGGER_WORDS.get(code, code)


def actor_words(actor: str, trigger: str) -> str:
    """ "admin@contoso.com (chosen in Sync Users)"; the worker reads as "sync"."""
    who = actor.removeprefix("admin:") if actor.startswith("admin:") else actor
    if who == "worker":
        who = "sync"
    how = trigger_word(trigger)
    return f"{who} ({how})" if how and how != "admin page" else who


def reason_words(reason: str) -> str:
    """A leading planner code ("new_user: ...") in words; the rest as written."""
    code, sep, rest = reason.partition(":")
    word = REASON_WORDS.get(code.strip())
    if word is None:
        return reason
    return f"{word}: {rest.strip()}" if sep and rest.strip() else word
