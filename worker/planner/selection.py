"""The "Sync Users & Create Extensions" popup: chosen users, optional numbers, live conflicts."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from worker.planner.accounts import describe_account
from worker.planner.actions import Action, ActionKind, ConflictKind, Plan, Reason
from worker.planner.directory import changes_for
from worker.planner.emails import describe_holders
from worker.planner.gcpause import gc_paused
from worker.planner.inputs import PlanInput
from worker.planner.numbering import format_number_spec, is_extension_number, spec_contains


@dataclass(frozen=True, slots=True)
class _Pick:
    user_id: str
    email: str
    requested: str | None


def plan_selection(inp: PlanInput, chosen: Sequence[tuple[str, str | None]]) -> Plan:
    """Create (or link) extensions for the chosen users, whatever `auto_create` says.

    `chosen` is (user id, requested number or None) in the order the admin sees them; users
    without a number get the lowest free ones in that order. A user chosen twice counts once.
    """
    with gc_paused():
        return _Selection(inp).run(chosen)


class _Selection:
    def __init__(self, inp: PlanInput) -> None:
        self.inp = inp
        self.pool = inp.number_pool()
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
                self._create(pick, self.pool.next_free())
        for pick, kind, msg in self.to_suggest:
            suggestion = self.pool.suggest_after(pick.requested or "")
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
        return Plan.of("selection", self.actions)

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
            elif problem := self._number_problem(number):
                self.to_suggest.append((pick, ConflictKind.NUMBER, problem))
        for pick in picks:
            if per_number[pick.requested] == 1 and not self._number_problem(pick.requested or ""):
                self.pool.take(pick.requested or "")
                self._create(pick, pick.requested)

    def _number_problem(self, number: str) -> str | None:
        inp, ranges = self.inp, self.inp.policy.ranges
        if not is_extension_number(number):
            return f"{number!r} is not an extension number (2 to 6 digits, not starting with 0)"
        if not spec_contains(ranges, number):
            spec = format_number_spec(ranges) or "none configured"
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
        if number is None:
            spec = format_number_spec(self.inp.policy.ranges)
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
        self.actions.append(
            Action(
                ActionKind.CREATE,
                Reason.SELECTED,
                pick.user_id,
                number,
                pick.email,
                changes_for(profile, None),
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
