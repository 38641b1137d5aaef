"""A conflict's way out, as the page and the API report it: "Link to 250" and "Re-enable",
each one action through the planner and applier, and the Disable Unmatched preview's rows
(names, emails, last seen in Microsoft 365)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from store.models import DirectoryUser
from worker.operations import Applied
from worker.planner import ActionKind, Plan, PlanInput
from worker.planner.directory import clean_email

MAX_NUMBER_LEN = 16
MAX_USER_ID_LEN = 100


def way_out_outcome(applied: Applied) -> dict[str, Any]:
    """One line for the admin: done, refused (and why) or failed on the PBX."""
    action = applied.plan.actions[0]
    failed = [why for _, why in applied.result.failed]
    if failed:
        outcome, message = "failed", failed[0]
    elif action.kind is ActionKind.BIND:
        who = action.email or action.user_id
        outcome, message = "linked", f"{who} is now linked to extension {action.number}"
    elif action.kind is ActionKind.ENABLE:
        outcome, message = "re-enabled", f"extension {action.number} is enabled again"
    else:
        outcome, message = "refused", action.message
    if action.notes and outcome == "linked":
        message = f"{message}; " + "; ".join(action.notes)
    return {
        "outcome": outcome,
        "message": message,
        "user_id": action.user_id,
        "number": action.number,
        "changes": [{"field": c.field, "old": c.old, "new": c.new} for c in action.changes],
        "plan": applied.plan.to_json(),
    }


def last_seen_by_email(users: Mapping[str, DirectoryUser]) -> dict[str, float]:
    """When we last heard of a Microsoft 365 user with each email, including users since
    deleted or disabled: the admin's clue whether an unmatched extension belonged to a leaver."""
    seen: dict[str, float] = {}
    for user in users.values():
        for raw in (user.mail, user.user_principal_name):
            email = clean_email(raw or "")
            if email and user.updated_at > seen.get(email, 0.0):
                seen[email] = user.updated_at
    return seen


def unmatched_rows(plan: Plan, inp: PlanInput) -> list[dict[str, Any]]:
    """The preview's rows: one per unmatched extension with its name, email and when its
    email was last seen in Microsoft 365 (None: never)."""
    seen = last_seen_by_email(inp.users)
    rows = []
    for action in plan.actions:
        ext = inp.extensions.get(action.number or "")
        email = action.email or (ext.email if ext else "") or ""
        rows.append(
            {
                "number": action.number,
                "name": " ".join(p for p in (ext.first_name, ext.last_name) if p) if ext else "",
                "email": email,
                "last_seen": seen.get(clean_email(email)) if email else None,
                "action": action.kind.value,
                "reason": action.reason.value,
                "message": action.message,
            }
        )
    return rows
