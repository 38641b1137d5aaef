"""Safety brakes: too many disables at once are held for an admin's approval."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from worker.planner.actions import Action, ActionKind
from worker.planner.policy import Policy


def disable_limit(policy: Policy, base: int) -> int:
    """How many disables one plan may apply: the larger of the count and the percentage."""
    return max(policy.disable_threshold_count, base * policy.disable_threshold_percent // 100)


def hold_if_over_limit(
    actions: Sequence[Action], policy: Policy, base: int, base_name: str
) -> tuple[list[Action], int]:
    """All disables become `held` when there are more than the limit; else nothing changes.

    Holding all of them rather than the excess keeps the choice of which extensions go with
    the admin: a mass disable is more likely a directory accident than a real departure.
    """
    limit = disable_limit(policy, base)
    disables = sum(1 for a in actions if a.kind is ActionKind.DISABLE)
    if disables <= limit:
        return list(actions), limit
    why = (
        f"held for approval: this plan would disable {disables} extensions, more than the "
        f"limit of {limit} (the larger of {policy.disable_threshold_count} and "
        f"{policy.disable_threshold_percent}% of {base} {base_name})"
    )
    held = [
        replace(
            a, kind=ActionKind.HELD, held_kind=ActionKind.DISABLE, message=f"{why}; {a.message}"
        )
        if a.kind is ActionKind.DISABLE
        else a
        for a in actions
    ]
    return held, limit
