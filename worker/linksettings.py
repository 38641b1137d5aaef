"""A link's settings JSON: the planner's policy plus a few keys about the link itself
that the planner does not use: when the client secret expires (for alerts), and how often
the link polls its delta (worker/polling.py)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from worker.planner import Policy, PolicyError
from worker.polling import POLL_INTERVAL_KEY, SAFETY_POLL_KEY, poll_seconds

LINK_META_KEYS = frozenset({"client_secret_expires", POLL_INTERVAL_KEY, SAFETY_POLL_KEY})


def policy_part(settings: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in settings.items() if k not in LINK_META_KEYS}


def link_policy_of(settings: Mapping[str, Any]) -> Policy:
    return Policy.from_settings(policy_part(settings))


def validated_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    """Policy keys as the planner accepts them, plus the link keys, checked (PolicyError)."""
    clean = Policy.from_settings(policy_part(settings)).to_settings()
    expires = settings.get("client_secret_expires")
    if expires not in (None, ""):
        try:
            clean["client_secret_expires"] = dt.date.fromisoformat(str(expires)).isoformat()
        except ValueError:
            raise PolicyError(
                "client_secret_expires", f"{expires!r} is not a date like 2027-05-31"
            ) from None
    for key in (POLL_INTERVAL_KEY, SAFETY_POLL_KEY):
        if settings.get(key) not in (None, ""):
            clean[key] = poll_seconds(settings, key)
    return clean
