"""The "Sync Users & Create Extensions" popup: chosen users, optional numbers, live conflicts."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace

from worker.planner.accounts import describe_account
from worker.planner.actions import Action, ActionKind, ConflictKind, FieldChange, Plan, Reason
from worker.planner.directory import changes_for
from worker.planner.dirnumbers import take_directory_number
from worker.planner.emails import describe_holders
from worker.planner.gcpause import gc_paused
from worker.planner.inputs import PlanInput
from worker.planner.numbering import (
    NumberPool,
    format_number_spec,
    is_extension_number,
    spec_contains,
)
from worker.planner.rules import GroupRule


@dataclass(frozen=True, slots=True)
class _Pick:
    user_id: str
    email: str
    requested: str | None


def plan_selection(inp: PlanInput, chosen: Sequence[tuple[str, str | None]]) -> Plan:
    """Create (or link) extensions for the chosen users, whatever `auto_create` says.

    `chosen` is (user id, requested number or None) in the order the admin sees them; users
    without a number get the lowest free ones in that order. A user chosen twice counts once.
    With group rules, each user is numbered by their rule as a round would: the rule's own
    ranges, or the number from the directory, and the rule's template at create.
    """
    with gc_paused():
        return _Selection(inp).run(chosen)


class _Selection:
    def __init__(self, inp: PlanInput) -> None:
        self.inp = inp
        self._given: set[str] = set()
        self._pools: dict[str, NumberPool] = {}
        self.actions: list[Action] = []
        self.to_suggest: list[tuple[_Pick, ConflictKind, str]] = []

    def run(self, chosen: Sequence[tuple[str, str | None]]) -> Plan:
        picks: dict[str, str | None] = {}
        for user_id, requested in chosen:
            picks.setdefault(user_id, (requested or "").strip() or None)
        eligible = [p for uid, req in picks.items() if (p := self._eligible(uid, req))]
        ready = self._check_emails(eligible)
        self._assign_requested([p for p in ready if p.requested])
        for pick in ready:
            if not pick.requested:
                self._create_next(pick)
        for pick, kind, msg in self.to_suggest:
            suggestion = self.pool(self._rule(pick.user_id)).suggest_after(pick.requested or "")
            hint = f"; suggested: {suggestion}" if suggestion else ""
            self.actions.append(
                Action(
                    ActionKind.CONFLICT,
                    Reason.CONFLICT,
                    pick.user_id,
                    pick.requested,
                    pick.email,
                    message=msg + hint,
                    conflict=kind,
                    suggested_number=suggestion,
                )
            )
        if self.inp.policy.group_rules:
            self.actions = [self._with_rule(a) for a in self.actions]
        return Plan.of("selection", self.actions)

    def _rule(self, uid: str) -> GroupRule | None:
        return self.inp.rule_of(uid).rule

    def pool(self, rule: GroupRule | None) -> NumberPool:
        """The pool of a rule (the link's ranges for none); all share the numbers given."""
        key = rule.name if rule is not None else ""
        if key not in self._pools:
            self._pools[key] = self.inp.number_pool(rule, self._given)
        return self._pools[key]

    def _create_next(self, pick: _Pick) -> None:
        """Create with the lowest free number of the user's rule, or with the number from
        the directory; a directory number that cannot be used is a conflict instead."""
        rule = self._rule(pick.user_id)
        if rule is None or not rule.number_from:
            self._create(pick, self.pool(rule).next_free())
            return
        got = take_directory_number(
            self.inp, rule, self.inp.users[pick.user_id], self.pool(rule), self._given
        )
        if isinstance(got, str):
            self._create(pick, got)
            return
        self.actions.append(
            Action(
                ActionKind.CONFLICT,
                Reason.CONFLICT,
                pick.user_id,
                got.number,
                pick.email,
                message=got.message,
                conflict=got.kind,
                suggested_number=got.suggested,
            )
        )

    def _with_rule(self, action: Action) -> Action:
        """Say which group rule applied to the chosen user, and why (as rounds do)."""
        if not action.user_id or action.user_id not in self.inp.users:
            return action
        choice = self.inp.rule_of(action.user_id)
        note = f"rule {choice.name}: {choice.why}"
        return replace(action, rule=choice.name, notes=(*action.notes, note))

    def _eligible(self, uid: str, requested: str | None) -> _Pick | None:
        inp = self.inp
        if uid not in inp.users:
            self._add(
                ActionKind.SKIP,
                Reason.UNKNOWN_USER,
                uid,
                requested,
                None,
                f"user {uid} is not in the directory",
            )
            return None
        binding = inp.binding_by_user.get(uid)
        email = inp.profile(uid).email
        if binding is not None:
            self._add(
                ActionKind.SKIP,
                Reason.ALREADY_BOUND,
                uid,
                binding.number,
                email,
                f"the user already has extension {binding.number}",
            )
            return None
        standing = inp.standing(uid)
        if standing is not Reason.ACTIVE:
            self._add(
                ActionKind.SKIP,
                standing,
                uid,
                requested,
                email,
                f"the user cannot get an extension ({standing.value.replace('_', ' ')})",
            )
            return None
        if email is None:
            self._add(
                ActionKind.CONFLICT,
                Reason.CONFLICT,
                uid,
                requested,
                None,
                "the user has no usable email (mail or user principal name)",
                ConflictKind.NO_EMAIL,
            )
            return None
        if inp.rules_unknown:
            msg = "the group rules' memberships could not be read, so the number is unknown"
            self._add(ActionKind.SKIP, Reason.SCOPE_UNKNOWN, uid, requested, email, msg)
            return None
        return _Pick(uid, email, requested)

    def _check_emails(self, picks: list[_Pick]) -> list[_Pick]:
        """Link users whose email is on one free extension; flag shared and taken emails."""
        per_email = Counter(p.email for p in picks)
        ready = []
        for pick in picks:
            holders = self.inp.numbers_by_email.get(pick.email, ())
            single_free = len(holders) == 1 and holders[0] not in self.inp.binding_by_number
            if per_email[pick.email] > 1:
                self._email_conflict(pick, f"{pick.email} belongs to more than one chosen user")
            elif single_free and pick.requested in (None, holders[0]):
                self._bind(pick, holders[0])
            elif single_free:
                self._email_conflict(
                    pick,
                    f"{pick.email} is already on extension {holders[0]}; "
                    "choose that number or none to link them",
                )
            elif holders:
                where = describe_holders(self.inp, holders)
                self._email_conflict(pick, f"{pick.email} is already on {where}")
            else:
                ready.append(pick)
        return ready

    def _assign_requested(self, picks: list[_Pick]) -> None:
        per_number = Counter(p.requested for p in picks)
        for pick in picks:
            number = pick.requested or ""
            if per_number[number] > 1:
                msg = f"{number} is chosen for more than one user"
                self.to_suggest.append((pick, ConflictKind.DUPLICATE_SELECTION, msg))
            elif problem := self._number_problem(number, self._rule(pick.user_id)):
                self.to_suggest.append((pick, ConflictKind.NUMBER, problem))
        for pick in picks:
            rule = self._rule(pick.user_id)
            if per_number[pick.requested] == 1 and not self._number_problem(
                pick.requested or "", rule
            ):
                self.pool(rule).take(pick.requested or "")
                self._create(pick, pick.requested)

    def _number_problem(self, number: str, rule: GroupRule | None = None) -> str | None:
        inp = self.inp
        ranges = rule.ranges if rule is not None and rule.ranges else inp.policy.ranges
        if not is_extension_number(number):
            return f"{number!r} is not an extension number (2 to 6 digits, not starting with 0)"
        if not spec_contains(ranges, number):
            spec = format_number_spec(ranges) or "none configured"
            if rule is not None and rule.ranges:
                return f"{number} is outside the ranges of rule {rule.name} ({spec})"
            return f"{number} is outside this link's number ranges ({spec})"
        if number in inp.extensions or number in inp.binding_by_number:
            return f"{number} is already in use"
        if number in inp.other_accounts:
            return f"{number} is already in use by {describe_account(inp.other_accounts[number])}"
        if spec_contains(inp.policy.reserved, number):
            return f"{number} is reserved"
        freed_at = inp.released.get(number)
        if freed_at is not None and inp.now - freed_at < inp.policy.cooloff_s:
            days = math.ceil((inp.policy.cooloff_s - (inp.now - freed_at)) / 86400)
            return f"{number} was freed recently and is cooling off for {days} more day(s)"
        return None

    def _create(self, pick: _Pick, number: str | None) -> None:
        rule = self._rule(pick.user_id)
        if number is None:
            ranges = rule.ranges if rule is not None and rule.ranges else self.inp.policy.ranges
            spec = format_number_spec(ranges)
            msg = f"no free number left in {spec}" if spec else "no number range is configured"
            self._add(
                ActionKind.CONFLICT,
                Reason.CONFLICT,
                pick.user_id,
                None,
                pick.email,
                msg,
                ConflictKind.RANGE_FULL,
            )
            return
        profile = self.inp.profile(pick.user_id)
        changes = changes_for(profile, None)
        if rule is not None and rule.template:
            # Applied once, at create, as in a round.
            changes = (*changes, *(FieldChange(k, "", v) for k, v in rule.template))
        self.actions.append(
            Action(
                ActionKind.CREATE,
                Reason.SELECTED,
                pick.user_id,
                number,
                pick.email,
                changes,
                f"new extension {number}",
                notes=profile.notes,
            )
        )

    def _bind(self, pick: _Pick, number: str) -> None:
        profile, ext = self.inp.profile(pick.user_id), self.inp.extensions[number]
        self.actions.append(
            Action(
                ActionKind.BIND,
                Reason.EMAIL_MATCH,
                pick.user_id,
                number,
                pick.email,
                changes_for(profile, ext),
                f"linking to extension {number}, which has the user's email",
                notes=profile.notes,
            )
        )

    def _email_conflict(self, pick: _Pick, msg: str) -> None:
        self._add(
            ActionKind.CONFLICT,
            Reason.CONFLICT,
            pick.user_id,
            pick.requested,
            pick.email,
            msg,
            ConflictKind.EMAIL,
        )

    def _add(
        self,
        kind: ActionKind,
        reason: Reason,
        uid: str,
        number: str | None,
        email: str | None,
        msg: str,
        conflict: ConflictKind | None = None,
    ) -> None:
        self.actions.append(
            Action(kind, reason, uid, number, email, message=msg, conflict=conflict)
        )
