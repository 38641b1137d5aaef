"""A link's policy: the settings JSON stored with the link, validated into a frozen value."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any

import phonenumbers

from worker.planner.numbering import (
    NumberRanges,
    NumberSpecError,
    format_number_spec,
    parse_number_spec,
)
from worker.planner.rules import GroupRule, RuleError, parse_rules

SCOPES = ("all", "groups")
EMAIL_SOURCES = ("mail_then_upn", "mail", "upn")
MS_SIGNIN = ("keep", "on", "off")
PHONE_SOURCES = ("business_then_mobile", "business", "mobile", "none")
# Graph's delta tokens live 7 days; a sweep must run well inside that.
MAX_SWEEP_INTERVAL_HOURS = 24 * 6
MAX_COOLOFF_DAYS = 3650
MAX_ALERT_EMAILS = 20
MAX_DISABLE_WINDOW_MINUTES = 7 * 24 * 60
_EMAIL_RE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_TRUE = frozenset({"true", "yes", "on", "1"})
_FALSE = frozenset({"false", "no", "off", "0"})


class PolicyError(ValueError):
    """A link setting that is not acceptable: `field` names it, `message` says why."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True, slots=True)
class Policy:
    """What a link's planner may do. Defaults are the safe, Vodia-manual behaviour."""

    auto_create: bool = False
    ranges: NumberRanges = ()
    reserved: NumberRanges = ()
    cooloff_days: int = 30
    scope: str = "all"
    group_ids: tuple[str, ...] = ()
    include_guests: bool = False
    email_source: str = "mail_then_upn"
    phone_source: str = "business_then_mobile"
    phone_region: str = "US"
    disable_on_soft_delete: bool = True
    disable_on_hard_delete: bool = True
    disable_on_account_disabled: bool = True
    disable_on_out_of_scope: bool = True
    disable_threshold_count: int = 10
    disable_threshold_percent: int = 20
    # Disables applied this long before a plan count toward its limit (see brakes.py).
    disable_window_minutes: int = 60
    protected: NumberRanges = ()
    unmatched_without_email: bool = False
    sweep_interval_hours: int = 12
    alert_emails: tuple[str, ...] = ()
    # Ordered rules per Entra group (rules.py); the link's own ranges are the default rule.
    group_rules: tuple[GroupRule, ...] = ()
    # "Sign in with Microsoft" on the PBX tenant (its `mssign` setting): keep as it is, or
    # turn on/off (worker/pbx_signin.py).
    ms_signin: str = "keep"

    @property
    def cooloff_s(self) -> float:
        return self.cooloff_days * 86400.0

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> Policy:
        """Validate a link's settings JSON. Missing or null keys take defaults; unknown keys are
        errors.

        Booleans may also be given as "true"/"false"/"yes"/"no"/"on"/"off"/"1"/"0" and whole
        numbers as digit strings, so `m365sync link set KEY=VALUE` can pass text through.
        """
        if not isinstance(settings, Mapping):
            raise PolicyError("settings", "must be a JSON object")
        known = {f.name for f in fields(cls)}
        for key in sorted(settings):
            if key not in known:
                raise PolicyError(str(key), f"unknown setting; known: {', '.join(sorted(known))}")
        # JSON null means "the default", so a form can clear a field.
        values = {
            key: _PARSERS[key](key, settings[key])
            for key in _PARSERS
            if settings.get(key) is not None
        }
        policy = cls(**values)
        _check_together(policy)
        return policy

    def to_settings(self) -> dict[str, Any]:
        """The settings JSON for this policy; `from_settings` of it gives this policy back."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in _SPEC_FIELDS:
                value = format_number_spec(value)
            elif f.name == "group_rules":
                value = [rule.to_json() for rule in value]
            elif isinstance(value, tuple):
                value = list(value)
            out[f.name] = value
        return out


def _check_together(policy: Policy) -> None:
    if policy.auto_create and not policy.ranges:
        raise PolicyError("ranges", "automatic creation needs at least one number range")
    if policy.scope == "groups" and not policy.group_ids:
        raise PolicyError("group_ids", "scope 'groups' needs at least one group id")


def _bool(key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise PolicyError(key, f"must be true or false, got {value!r}")


def _int_between(lo: int, hi: int) -> Callable[[str, Any], int]:
    def parse(key: str, value: Any) -> int:
        # isascii: str.isdigit also accepts "²", which int() refuses; the length keeps
        # int() clear of its 4,300-digit limit.
        text = value.strip() if isinstance(value, str) else ""
        if text.isascii() and text.isdigit() and len(text) <= 18:
            value = int(text)
        if isinstance(value, bool) or not isinstance(value, int):
            raise PolicyError(key, f"must be a whole number, got {value!r}")
        if not lo <= value <= hi:
            raise PolicyError(key, f"must be between {lo} and {hi}, got {value}")
        return value

    return parse


def _choice(options: tuple[str, ...]) -> Callable[[str, Any], str]:
    def parse(key: str, value: Any) -> str:
        if not isinstance(value, str) or value.strip().lower() not in options:
            raise PolicyError(key, f"must be one of {', '.join(options)}, got {value!r}")
        return value.strip().lower()

    return parse


def _spec(key: str, value: Any) -> NumberRanges:
    if not isinstance(value, str | list | tuple):
        raise PolicyError(key, f"must be text like '200-299,400-449', got {value!r}")
    try:
        return parse_number_spec(value)
    except NumberSpecError as exc:
        raise PolicyError(key, str(exc)) from None


def _text_list(key: str, value: Any) -> tuple[str, ...]:
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not all(isinstance(i, str) for i in items):
        raise PolicyError(key, f"must be a list of text, got {value!r}")
    stripped = (item.strip() for item in items)
    return tuple(dict.fromkeys(item for item in stripped if item))


def _group_ids(key: str, value: Any) -> tuple[str, ...]:
    ids = _text_list(key, value)
    for group_id in ids:
        if len(group_id) > 100 or not group_id.replace("-", "").isalnum():
            raise PolicyError(key, f"{group_id!r} is not a group id")
    return ids


def _alert_emails(key: str, value: Any) -> tuple[str, ...]:
    emails = _text_list(key, value)
    if len(emails) > MAX_ALERT_EMAILS:
        raise PolicyError(key, f"at most {MAX_ALERT_EMAILS} addresses")
    for email in emails:
        if len(email) > 254 or not _EMAIL_RE.fullmatch(email):
            raise PolicyError(key, f"{email!r} is not an email address")
    return emails


def _group_rules(key: str, value: Any) -> tuple[GroupRule, ...]:
    try:
        return parse_rules(value)
    except RuleError as exc:
        raise PolicyError(key, str(exc)) from None


def _region(key: str, value: Any) -> str:
    region = value.strip().upper() if isinstance(value, str) else ""
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise PolicyError(key, f"must be a two-letter region such as US or DE, got {value!r}")
    return region


_PARSERS: dict[str, Callable[[str, Any], Any]] = {
    "auto_create": _bool,
    "ranges": _spec,
    "reserved": _spec,
    "cooloff_days": _int_between(0, MAX_COOLOFF_DAYS),
    "scope": _choice(SCOPES),
    "group_ids": _group_ids,
    "include_guests": _bool,
    "email_source": _choice(EMAIL_SOURCES),
    "phone_source": _choice(PHONE_SOURCES),
    "phone_region": _region,
    "disable_on_soft_delete": _bool,
    "disable_on_hard_delete": _bool,
    "disable_on_account_disabled": _bool,
    "disable_on_out_of_scope": _bool,
    "disable_threshold_count": _int_between(0, 1_000_000),
    "disable_threshold_percent": _int_between(0, 100),
    "disable_window_minutes": _int_between(0, MAX_DISABLE_WINDOW_MINUTES),
    "protected": _spec,
    "unmatched_without_email": _bool,
    "sweep_interval_hours": _int_between(1, MAX_SWEEP_INTERVAL_HOURS),
    "alert_emails": _alert_emails,
    "group_rules": _group_rules,
    "ms_signin": _choice(MS_SIGNIN),
}
_SPEC_FIELDS = frozenset({"ranges", "reserved", "protected"})
