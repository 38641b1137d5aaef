"""Safety brakes: too many disables in a window are held for an admin's approval.

The rule, for every plan that disables (rounds, sweeps, Disable Unmatched Extensions):

- while the link has disables held for approval, every further disable is held too, whatever
  the size of the plan, until an admin approves or rejects them: the first rounds of a mass
  deletion often see only part of it, and the rest must not slip through behind them;
- otherwise the disables of this plan plus the extensions the link disabled in the last
  `disable_window_minutes` (approved ones excepted) may not exceed the limit, so a slow
  trickle of small rounds cannot disable a tenant round by round;
- a disable whose extension is already held is not held again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from worker.planner.actions import Action, ActionKind, Reason
from worker.planner.policy import Policy

_HELD_PREFIX = "held for approval: "


def disable_limit(policy: Policy, base: int) -> int:
    """How many disables a window may apply: the larger of the count and the percentage."""
    return max(policy.disable_threshold_count, base * policy.disable_threshold_percent // 100)


def why_held(action: Action) -> str:
    """The brake's reason for holding `action`: the part of the message it put in front."""
    if action.kind is not ActionKind.HELD or not action.message.startswith(_HELD_PREFIX):
        return ""
    return action.message[len(_HELD_PREFIX) :].split("; ", 1)[0]


def hold_if_over_limit(
    actions: Sequence[Action],
    policy: Policy,
    base: int,
    base_name: str,
    *,
    held: frozenset[str] = frozenset(),
    recent: int = 0,
) -> tuple[list[Action], int]:
    """Apply the brake to a plan's actions; returns them (disables possibly held) and the limit.

    `held`: the numbers of the link's disables already held for approval; `recent`: how many
    extensions the link disabled within the window before this plan.

    Holding every disable rather than the excess keeps the choice of which extensions go with
    the admin: a mass disable is more likely a directory accident than a real departure.
    """
    limit = disable_limit(policy, base)
    out: list[Action] = []
    fresh = 0
    for a in actions:
        if a.kind is ActionKind.DISABLE and a.number in held:
            msg = f"extension {a.number} is already held for approval; {a.message}"
            out.append(replace(a, kind=ActionKind.SKIP, reason=Reason.ALREADY_HELD, message=msg))
            continue
        fresh += a.kind is ActionKind.DISABLE
        out.append(a)
    if not fresh:
        return out, limit
    why = _why_held(policy, limit, base, base_name, fresh, len(held), recent)
    if why is None:
        return out, limit
    return [_held(a, why) if a.kind is ActionKind.DISABLE else a for a in out], limit


def _held(action: Action, why: str) -> Action:
    message = f"{why}; {action.message}"
    return replace(action, kind=ActionKind.HELD, held_kind=ActionKind.DISABLE, message=message)


def _why_held(
    policy: Policy, limit: int, base: int, base_name: str, fresh: int, held: int, recent: int
) -> str | None:
    """Why this plan's `fresh` disables are held, or None when they may be applied."""
    if held:
        return (
            f"{_HELD_PREFIX}{held} disable(s) of this link already wait for approval, "
            "and until they are approved or rejected every further disable waits too"
        )
    if fresh + recent <= limit:
        return None
    of = (
        f"the limit of {limit} (the larger of {policy.disable_threshold_count} and "
        f"{policy.disable_threshold_percent}% of {base} {base_name})"
    )
    if not recent:
        return f"{_HELD_PREFIX}this plan would disable {fresh} extensions, more than {of}"
    return (
        f"{_HELD_PREFIX}this plan would disable {fresh} extensions and {recent} were "
        f"disabled in the last {policy.disable_window_minutes} minutes, together more than {of}"
    )
