"""The plan: actions in a stable order, and their JSON shape (see docs/plan-format.md)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any, NamedTuple

PLAN_FORMAT_VERSION = 1


class ActionKind(StrEnum):
    CREATE = "create"
    BIND = "bind"
    UPDATE = "update"
    ENABLE = "enable"
    DISABLE = "disable"
    HELD = "held"
    CONFLICT = "conflict"
    SKIP = "skip"


# Kinds that write to the PBX or the bindings; everything else is only shown and logged.
WRITE_KINDS = frozenset(
    {ActionKind.CREATE, ActionKind.BIND, ActionKind.UPDATE, ActionKind.ENABLE, ActionKind.DISABLE}
)
_KIND_RANK = {kind: rank for rank, kind in enumerate(ActionKind)}


class ConflictKind(StrEnum):
    EMAIL = "email"
    NUMBER = "number"
    DUPLICATE_SELECTION = "duplicate_selection"
    RANGE_FULL = "range_full"
    NO_EMAIL = "no_email"


class Reason(StrEnum):
    """Why an action is in the plan; stable codes for logs, stats and the JSON."""

    ACTIVE = "active"
    NEW_USER = "new_user"
    SELECTED = "selected"
    EMAIL_MATCH = "email_match"
    FIELDS_CHANGED = "fields_changed"
    RETURNED = "returned"
    EXTENSION_MISSING = "extension_missing"
    HARD_DELETED = "hard_deleted"
    SOFT_DELETED = "soft_deleted"
    ACCOUNT_DISABLED = "account_disabled"
    GUEST = "guest"
    NOT_A_MEMBER = "not_a_member"
    OUT_OF_SCOPE = "out_of_scope"
    SCOPE_UNKNOWN = "scope_unknown"
    KEPT_BY_POLICY = "kept_by_policy"
    DIRECTORY_INCOMPLETE = "directory_incomplete"
    AUTO_CREATE_OFF = "auto_create_off"
    NO_EMAIL = "no_email"
    UNKNOWN_USER = "unknown_user"
    ALREADY_BOUND = "already_bound"
    ALREADY_HELD = "already_held"
    UNMATCHED = "unmatched"
    PROTECTED = "protected"
    EXCLUDED = "excluded"
    NOT_RENUMBERED = "not_renumbered"
    CONFLICT = "conflict"


class FieldChange(NamedTuple):
    """One Vodia field the action writes: `field` from `old` (as on the PBX) to `new`.

    A named tuple (immutable, cheap to build: a sweep may make a few hundred thousand).
    """

    field: str
    old: str
    new: str


@dataclass(frozen=True, slots=True)
class Action:
    """One step of a plan. Only `create/bind/update/enable/disable` write anything."""

    kind: ActionKind
    reason: Reason
    user_id: str | None = None
    number: str | None = None
    email: str | None = None
    changes: tuple[FieldChange, ...] = ()
    message: str = ""
    conflict: ConflictKind | None = None
    suggested_number: str | None = None
    held_kind: ActionKind | None = None
    notes: tuple[str, ...] = ()
    # The group rule that applied to the user (rules.py); None where no rule was chosen.
    rule: str | None = None

    @property
    def writes(self) -> bool:
        return self.kind in WRITE_KINDS

    def new_values(self) -> dict[str, str]:
        """The fields to send to Vodia (`user_settings` / `addacc`), as strings."""
        return {c.field: c.new for c in self.changes}

    def change_map(self) -> dict[str, tuple[str, str]]:
        return {c.field: (c.old, c.new) for c in self.changes}

    def release(self) -> Action:
        """The action a held action stands for, to apply once an admin approves it."""
        if self.held_kind is None:
            return self
        return replace(self, kind=self.held_kind, held_kind=None)

    def sort_key(self) -> tuple[int, int, int, str, str]:
        number = self.number or ""
        # Numeric order for numbers ("99" before "100"), numberless actions last.
        return (_KIND_RANK[self.kind], 0 if number else 1, len(number), number, self.user_id or "")

    def to_json(self) -> dict[str, Any]:
        return {
            "action": self.kind.value,
            "user_id": self.user_id,
            "email": self.email,
            "number": self.number,
            "changes": {c.field: [c.old, c.new] for c in self.changes},
            "reason": self.reason.value,
            "message": self.message,
            "conflict": self.conflict.value if self.conflict else None,
            "suggested_number": self.suggested_number,
            "held_action": self.held_kind.value if self.held_kind else None,
            "notes": list(self.notes),
            "rule": self.rule,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Action:
        """Inverse of `to_json` (a held action comes back from the store this way)."""
        conflict, held = data.get("conflict"), data.get("held_action")
        return cls(
            kind=ActionKind(data["action"]),
            reason=Reason(data["reason"]),
            user_id=data.get("user_id"),
            number=data.get("number"),
            email=data.get("email"),
            changes=tuple(
                FieldChange(str(f), str(old), str(new))
                for f, (old, new) in dict(data.get("changes") or {}).items()
            ),
            message=str(data.get("message") or ""),
            conflict=ConflictKind(conflict) if conflict else None,
            suggested_number=data.get("suggested_number"),
            held_kind=ActionKind(held) if held else None,
            notes=tuple(str(n) for n in data.get("notes") or ()),
            rule=str(data["rule"]) if data.get("rule") else None,
        )


@dataclass(frozen=True, slots=True)
class HuntTarget:
    """A Vodia hunt group whose members are exactly `members`: the extensions of the
    active users of rule `rule` once the plan is applied (hunts.py)."""

    number: str
    rule: str
    members: tuple[str, ...]
    problem: str = ""  # why the applier leaves it alone (e.g. not a hunt group on the PBX)

    def to_json(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "rule": self.rule,
            "members": list(self.members),
            "problem": self.problem or None,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> HuntTarget:
        return cls(
            number=str(data["number"]),
            rule=str(data["rule"]),
            members=tuple(str(m) for m in data.get("members") or ()),
            problem=str(data.get("problem") or ""),
        )


@dataclass(frozen=True, slots=True)
class Plan:
    """Actions sorted by (kind, number, user id); build one with `Plan.of`.

    `withdrawn`: numbers whose disable is held for approval but no longer wanted, since the
    user is back (restored, re-enabled, in scope again); the round takes them off the list.
    """

    kind: str
    actions: tuple[Action, ...] = ()
    disable_limit: int | None = None
    unmatched: tuple[str, ...] = ()
    left: tuple[str, ...] = ()
    withdrawn: tuple[str, ...] = ()
    hunts: tuple[HuntTarget, ...] = ()

    @classmethod
    def of(
        cls,
        kind: str,
        actions: Iterable[Action],
        *,
        disable_limit: int | None = None,
        unmatched: Iterable[str] = (),
        left: Iterable[str] = (),
        withdrawn: Iterable[str] = (),
        hunts: Iterable[HuntTarget] = (),
    ) -> Plan:
        return cls(
            kind=kind,
            actions=tuple(sorted(actions, key=Action.sort_key)),
            disable_limit=disable_limit,
            unmatched=tuple(sorted(set(unmatched), key=lambda n: (len(n), n))),
            left=tuple(sorted(set(left))),
            withdrawn=tuple(sorted(set(withdrawn), key=lambda n: (len(n), n))),
            hunts=tuple(sorted(hunts, key=lambda h: (len(h.number), h.number))),
        )

    def by_kind(self, kind: ActionKind | str) -> tuple[Action, ...]:
        return tuple(a for a in self.actions if a.kind == kind)

    @property
    def writes(self) -> tuple[Action, ...]:
        """The actions the applier carries out, in plan order."""
        return tuple(a for a in self.actions if a.writes)

    @property
    def held(self) -> tuple[Action, ...]:
        return self.by_kind(ActionKind.HELD)

    def counts(self) -> dict[str, int]:
        """Actions per kind, every kind present (zeros included), in kind order."""
        seen = Counter(a.kind for a in self.actions)
        return {kind.value: seen.get(kind, 0) for kind in ActionKind}

    def to_json(self) -> dict[str, Any]:
        """The documented shape printed by `m365sync resync --dry-run --json`."""
        return {
            "version": PLAN_FORMAT_VERSION,
            "kind": self.kind,
            "counts": self.counts(),
            "disable_limit": self.disable_limit,
            "actions": [a.to_json() for a in self.actions],
            "unmatched": list(self.unmatched),
            "left": list(self.left),
            "withdrawn": list(self.withdrawn),
            "hunts": [h.to_json() for h in self.hunts],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Plan:
        return cls.of(
            str(data["kind"]),
            (Action.from_json(a) for a in data.get("actions") or ()),
            disable_limit=data.get("disable_limit"),
            unmatched=data.get("unmatched") or (),
            left=data.get("left") or (),
            withdrawn=data.get("withdrawn") or (),
            hunts=(HuntTarget.from_json(h) for h in data.get("hunts") or ()),
        )
