"""Conflicts in the audit trail once each, not once per round: a sweep meets the same
email conflict every 12 hours, and a delta round meets it whenever the user changes. A
conflict is written when the user's newest conflict row says something else, or when the
user was created or bound since (the conflict was solved, and this one is new)."""

from __future__ import annotations

from collections.abc import Sequence

from store import Database
from store.models import AuditEntry
from store.records import add_audit, latest_user_audit
from worker.planner import Action

CONFLICT = "conflict"
FOUND = "found"
# Rows after which a user's conflict counts as solved.
_SOLVED_BY = ("create", "bind")


def _reason(action: Action) -> str:
    kind = action.conflict.value if action.conflict else "unknown"
    return f"{kind}: {action.message}"[:500]


async def record_new_conflicts(
    db: Database, link_id: int, conflicts: Sequence[Action], *, trigger: str
) -> int:
    """Write the conflicts not yet in the trail; how many were written."""
    if not conflicts:
        return 0
    latest = await latest_user_audit(db, link_id, (CONFLICT, *_SOLVED_BY))
    entries: list[AuditEntry] = []
    seen: set[tuple[str | None, str]] = set()
    for action in conflicts:
        reason = _reason(action)
        key = (action.user_id, reason)
        if key in seen or latest.get(action.user_id) == (CONFLICT, reason):
            continue
        seen.add(key)
        entries.append(
            AuditEntry(
                link_id=link_id,
                action=CONFLICT,
                outcome=FOUND,
                trigger=trigger,
                user_id=action.user_id,
                number=action.number or action.suggested_number,
                reason=reason,
            )
        )
    if entries:
        async with db.atomic() as tx:
            await add_audit(tx, entries)
    return len(entries)
