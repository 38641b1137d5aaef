"""Polling a link's deltaLink: how often, at which phase, and what the mode is called.

Without M365SYNC_PUBLIC_URL Graph cannot push, so each link reads its delta every
`poll_interval_s` (a link setting, default 60 s). With push, a slower safety poll
(`safety_poll_s`, default 15 min) catches what a lost notification missed, long before
the 12-hour sweep. A poll is a `poll` event in the durable queue, so it coalesces with
notifications, honours Retry-After and backs off like any other event of its link, and a
poll whose delta is empty never reads the PBX (rounds._nothing_changed).

Each link polls at a stable phase of its interval (a hash of its id), so 500 links with
the same interval are spread over it instead of all asking Graph at the minute mark.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from store.models import EventKind, NewEvent
from worker.planner import PolicyError
from worker.settings import Settings

POLL_INTERVAL_KEY = "poll_interval_s"
SAFETY_POLL_KEY = "safety_poll_s"
POLL_INTERVAL_DEFAULT_S = 60
POLL_INTERVAL_MIN_S = 10
SAFETY_POLL_DEFAULT_S = 900
SAFETY_POLL_MIN_S = 60
# A day: past that the 12-hourly sweep is the better fallback anyway.
POLL_MAX_S = 86400


@dataclass(frozen=True, slots=True)
class PollMode:
    push: bool  # Graph pushes notifications (M365SYNC_PUBLIC_URL is set)
    interval_s: int  # the polling interval, or the safety poll's with push

    @property
    def name(self) -> str:
        return "push" if self.push else "polling"

    @property
    def text(self) -> str:
        if self.push:
            return f"push (safety poll every {self.interval_s} s)"
        return f"polling every {self.interval_s} s"


def poll_seconds(settings: Mapping[str, Any], key: str) -> int:
    """One of the two interval settings, checked (PolicyError names the key)."""
    default, low = (
        (POLL_INTERVAL_DEFAULT_S, POLL_INTERVAL_MIN_S)
        if key == POLL_INTERVAL_KEY
        else (SAFETY_POLL_DEFAULT_S, SAFETY_POLL_MIN_S)
    )
    raw = settings.get(key)
    if raw in (None, ""):
        return default
    if isinstance(raw, bool):
        raise PolicyError(key, f"{raw!r} is not a number of seconds")
    try:
        value = float(str(raw).strip())
    except ValueError:
        raise PolicyError(key, f"{raw!r} is not a number of seconds") from None
    if not math.isfinite(value) or value != int(value) or not low <= value <= POLL_MAX_S:
        raise PolicyError(key, f"{raw!r}: expected whole seconds between {low} and {POLL_MAX_S}")
    return int(value)


def poll_mode(process: Settings, link_settings: Mapping[str, Any]) -> PollMode:
    """The link's mode; an invalid stored value falls back to the default (the settings
    page and `link set` refuse one, so only a hand-edited database has it)."""
    push = bool(process.public_url)
    key = SAFETY_POLL_KEY if push else POLL_INTERVAL_KEY
    try:
        interval = poll_seconds(link_settings, key)
    except PolicyError:
        interval = SAFETY_POLL_DEFAULT_S if push else POLL_INTERVAL_DEFAULT_S
    return PollMode(push=push, interval_s=interval)


def phase(link_id: int) -> float:
    """A stable fraction in [0, 1) per link."""
    digest = hashlib.sha256(f"poll:{link_id}".encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**32


def next_poll_at(link_id: int, interval_s: float, now: float) -> float:
    """The first of the link's poll slots strictly after `now`: slots are `interval_s`
    apart, shifted by the link's phase."""
    offset = phase(link_id) * interval_s
    slots = math.floor((now - offset) / interval_s) + 1
    return offset + slots * interval_s


def poll_event(link_id: int, mode: PollMode, now: float) -> NewEvent:
    return NewEvent(
        link_id=link_id, kind=EventKind.POLL, due_at=next_poll_at(link_id, mode.interval_s, now)
    )
