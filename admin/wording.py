"""Words an administrator reads instead of Vodia's field codes and our setting names.

Vodia's `display_name` holds the *last* name (worker/planner/directory.py); the page must
never show the code itself."""

from __future__ import annotations

FIELD_WORDS: dict[str, str] = {
    # Vodia extension fields, as the planner changes them
    "first_name": "First name",
    "display_name": "Last name",
    "email_address": "Email",
    "cell_dis": "Cell phone",
    "disabled": "Disabled",
    # what setup and settings saves record
    "auth_mode": "Sign-in mode",
    "scope": "Scope",
    "group_ids": "Groups",
    "auto_create": "Automatic Extension Creation",
    "client_secret": "Client secret",
    "oauth_token": "OAuth token",
    "ranges": "Number ranges",
    "reserved": "Reserved numbers",
    "protected": "Protected numbers",
    "phone_region": "Phone region",
    "cooloff_days": "Cool-off for freed numbers (days)",
    "disable_threshold_count": "Disable threshold (extensions)",
    "disable_threshold_percent": "Disable threshold (percent)",
    "disable_window_minutes": "Disable window (minutes)",
    "alert_emails": "Alert e-mail addresses",
    "sweep_interval_hours": "Sweep interval (hours)",
    "disable_on_soft_delete": "Disable when the user is deleted",
    "disable_on_hard_delete": "Disable when the user is permanently deleted",
    "disable_on_account_disabled": "Disable when sign-in is blocked",
    "disable_on_out_of_scope": "Disable when the user leaves the scope",
    "include_guests": "Include guest accounts",
    "unmatched_without_email": "Disable Unmatched also covers extensions without email",
}


def field_word(code: str) -> str:
    """The word for a field code; an unknown code reads as words, never as `snake_case`."""
    word = FIELD_WORDS.get(code)
    if word is not None:
        return word
    text = code.replace("_", " ").strip()
    return text[:1].upper() + text[1:] if text else code
