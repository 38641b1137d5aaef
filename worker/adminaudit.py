"""What administrators did, in the audit trail next to what the worker did: setup saves,
sign-in mode switches, setting changes (old -> new), sign-ins and conflicts found. The
values written here are settings and names only; anything that looks like a secret is
masked before it reaches the database, so a backup of the audit table leaks nothing."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from store import Database
from store.events import enqueue_events, has_unfinished_event
from store.models import AuditEntry, EventKind, HeldAction, HeldStatus, Link, NewEvent
from store.records import add_audit

ADMIN_TRIGGER = "admin"
MASK = "(hidden)"
_SECRET_WORDS = ("secret", "password", "token", "cache", "key", "certificate")


REPLACED = "(replaced)"
# What may stand for a secret in the trail: says that it changed, never what it is.
_MARKERS = frozenset({MASK, REPLACED})


def _masked(name: str, value: Any) -> Any:
    if isinstance(value, str) and value in _MARKERS:
        return value
    return MASK if any(w in name.lower() for w in _SECRET_WORDS) else value


def settings_changes(
    old: Mapping[str, Any], new: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The settings that changed, as (before, after), secrets masked."""
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    for name in sorted(set(old) | set(new)):
        if old.get(name) != new.get(name):
            before[name] = _masked(name, old.get(name))
            after[name] = _masked(name, new.get(name))
    return before, after


async def record_admin(
    db: Database,
    link_ids: Iterable[int],
    action: str,
    *,
    actor: str,
    outcome: str = "ok",
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
    reason: str = "",
) -> None:
    entries = [
        AuditEntry(
            link_id=link_id,
            action=action,
            outcome=outcome,
            trigger=ADMIN_TRIGGER,
            actor=actor,
            before={k: _masked(k, v) for k, v in (before or {}).items()},
            after={k: _masked(k, v) for k, v in (after or {}).items()},
            reason=reason[:500],
        )
        for link_id in link_ids
    ]
    if entries:
        async with db.atomic() as tx:
            await add_audit(tx, entries)


async def catch_up_waiting(db: Database, link: Link) -> bool:
    """Queue a full comparison now, so users who waited for a number while Automatic
    Extension Creation was off get one without waiting for the next 12-hour sweep.
    False when one is already queued."""
    if await has_unfinished_event(db, link.id, EventKind.SWEEP):
        return False
    await enqueue_events(db, [NewEvent(link.id, EventKind.SWEEP, payload={"catch_up": True})])
    return True


SETTINGS_CHANGED = "settings changed"


async def record_settings_change(
    db: Database, old: Link, new: Link, *, actor: str, via: str = ""
) -> None:
    """One row naming each setting that changed, old -> new; nothing when none did."""
    before, after = settings_changes(old.settings, new.settings)
    if before or after:
        await record_admin(
            db, [new.id], SETTINGS_CHANGED, actor=actor, before=before, after=after, reason=via
        )


HELD_DECISION = {"approved": "held action approved", "rejected": "held action rejected"}


async def record_held_decision(
    db: Database, link_id: int, decided: Sequence[HeldAction], status: HeldStatus, *, actor: str
) -> None:
    """Who approved or rejected which held action; the disable an approval then carries
    out has its own row from the applier."""
    entries = [
        AuditEntry(
            link_id=link_id,
            action=HELD_DECISION[status.value],
            outcome="ok",
            trigger=ADMIN_TRIGGER,
            actor=actor,
            user_id=held.action.get("user_id"),
            number=held.action.get("number"),
            reason=held.reason[:500],
        )
        for held in decided
    ]
    if entries:
        async with db.atomic() as tx:
            await add_audit(tx, entries)
