"""Plans for a round (the users that changed) and a sweep (everyone): the rules of DESIGN.md."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from store.models import Binding, Extension
from worker.planner.accounts import describe_account
from worker.planner.actions import Action, ActionKind, ConflictKind, FieldChange, Plan, Reason
from worker.planner.brakes import hold_if_over_limit
from worker.planner.directory import EMAIL, changes_for, disables_for
from worker.planner.dirnumbers import take_directory_number
from worker.planner.emails import EmailMoves, describe_holders
from worker.planner.gcpause import gc_paused
from worker.planner.hunts import hunt_targets
from worker.planner.inputs import PlanInput
from worker.planner.numbering import NumberPool, format_number_spec, spec_contains
from worker.planner.rules import GroupRule
from worker.planner.unmatched import unmatched_extensions

_NEW_BINDINGS = frozenset({ActionKind.CREATE, ActionKind.BIND})
_NEW_REASONS = frozenset({Reason.NEW_USER, Reason.EMAIL_MATCH})
_LEAVING_WORDS = {
    Reason.HARD_DELETED: "was deleted",
    Reason.SOFT_DELETED: "was deleted (restorable for 30 days)",
    Reason.ACCOUNT_DISABLED: "has a disabled account",
    Reason.GUEST: "is a guest",
    Reason.NOT_A_MEMBER: "is not a member",
    Reason.OUT_OF_SCOPE: "is not in the chosen groups",
    Reason.SCOPE_UNKNOWN: "has unknown group membership (the group read failed)",
}


def plan_round(inp: PlanInput, changed_user_ids: Iterable[str]) -> Plan:
    """Plan for the users Graph told us about; everyone else is left as is."""
    with gc_paused():
        return _Reconciler(inp).run("round", sorted(set(changed_user_ids)))


def plan_sweep(inp: PlanInput) -> Plan:
    """Plan for every known user and binding (drift repair); also reports unmatched and left."""
    with gc_paused():
        # No need to sort: the plan is sorted at the end and new users are taken in email order.
        ids = list(dict.fromkeys([*inp.users, *inp.binding_by_user]))
        inp.know_everyone()
        return _Reconciler(inp).run("sweep", ids)


@dataclass(frozen=True, slots=True)
class _Pending:
    """A bound user's write, waiting for the email moves of the whole plan to be settled."""

    kind: ActionKind
    binding: Binding
    email: str | None
    changes: tuple[FieldChange, ...]
    reason: Reason
    message: str
    notes: tuple[str, ...]


class _Reconciler:
    def __init__(self, inp: PlanInput) -> None:
        self.inp = inp
        self.actions: list[Action] = []
        self.left: list[str] = []
        self.withdrawn: list[str] = []
        self._pools: dict[str, NumberPool] = {}
        self._given: set[str] = set()

    def pool(self, rule: GroupRule | None) -> NumberPool:
        """The pool of the user's rule; all pools of a plan share the numbers given."""
        key = rule.name if rule is not None else ""
        if key not in self._pools:
            self._pools[key] = self.inp.number_pool(rule, self._given)
        return self._pools[key]

    def run(self, kind: str, user_ids: list[str]) -> Plan:
        bound = self.inp.binding_by_user
        pending = [p for uid in user_ids if uid in bound for p in self._bound(bound[uid])]
        moves = EmailMoves(self.inp, {p.binding.number: p.email for p in pending if _moves(p)})
        for p in pending:
            self._settle(p, moves)
        unbound = [uid for uid in user_ids if uid not in bound and uid in self.inp.users]
        email_of = self.inp.email
        unbound.sort(key=lambda uid: (email_of(uid) or "", uid))
        for uid in unbound:
            self._unbound(uid, moves)
        for uid in user_ids:
            if uid not in bound and uid not in self.inp.users:
                self._skip(uid, None, Reason.UNKNOWN_USER, f"user {uid} is not in the directory")
        # The base counts the bindings this plan adds, so planning again after applying it
        # draws the same limit. A plan that was held stays held: its disables come back as
        # `held_numbers`, which hold every later disable too until an admin decides.
        new = sum(1 for a in self.actions if a.kind in _NEW_BINDINGS and a.reason in _NEW_REASONS)
        base = len(self.inp.binding_by_number) + new
        actions, limit = hold_if_over_limit(
            self.actions,
            self.inp.policy,
            base,
            "bound extensions (after this plan)",
            # Users back now leave the held list with this plan, so they no longer hold it.
            held=self.inp.held_numbers - frozenset(self.withdrawn),
            recent=self.inp.recent_disables,
        )
        if self.inp.policy.group_rules:
            actions = [self._with_rule(a) for a in actions]
        unmatched: list[str] = []
        if kind == "sweep":
            unmatched = [ext.number for ext, _ in unmatched_extensions(self.inp)]
        return Plan.of(
            kind,
            actions,
            disable_limit=limit,
            unmatched=unmatched,
            left=self.left,
            withdrawn=self.withdrawn,
            hunts=hunt_targets(self.inp, actions),
        )

    def _with_rule(self, action: Action) -> Action:
        """Say which group rule applied to the action's user, and why."""
        uid = action.user_id
        if uid is None or uid not in self.inp.users:
            return action
        choice = self.inp.rule_of(uid)
        note = f"rule {choice.name}: {choice.why}"
        return replace(action, rule=choice.name, notes=(*action.notes, note))

    # bound users

    def _bound(self, binding: Binding) -> list[_Pending]:
        uid, number = binding.user_id, binding.number
        if uid not in self.inp.users:
            self._skip(
                uid, number, Reason.UNKNOWN_USER, f"bound user {uid} has no directory record"
            )
            return []
        ext = self.inp.extensions.get(number)
        standing = self.inp.standing(uid)
        if standing is Reason.ACTIVE:
            if number in self.inp.held_numbers:
                self.withdrawn.append(number)  # back before an admin approved the disable
            return self._bound_active(binding, ext)
        if standing is not Reason.SCOPE_UNKNOWN:
            self.left.append(uid)
        self._leaving(binding, ext, standing)
        return []

    def _bound_active(self, binding: Binding, ext: Extension | None) -> list[_Pending]:
        number = binding.number
        profile = self.inp.profile(binding.user_id, ext.cell if ext else "")
        changes = changes_for(profile, ext)
        if ext is None:
            taken_by = self.inp.other_accounts.get(number)
            if taken_by is not None:
                # Re-creating would fail (or, on a lenient PBX, write over that account).
                msg = (
                    f"extension {number} is gone from the PBX and {number} now belongs to "
                    f"{describe_account(taken_by)}; the user is not given a new number "
                    "automatically"
                )
                self._conflict(binding.user_id, number, profile.email, ConflictKind.NUMBER, msg)
                return []
            if not self.inp.policy.auto_create:
                msg = f"extension {number} is gone from the PBX; automatic creation is off"
                self._skip(binding.user_id, number, Reason.EXTENSION_MISSING, msg)
                return []
            kind, reason = ActionKind.CREATE, Reason.EXTENSION_MISSING
            msg = f"extension {number} is gone from the PBX; re-creating it"
        elif ext.disabled and binding.disabled_by_us:
            kind, reason = ActionKind.ENABLE, Reason.RETURNED
            msg = f"user is back; re-enabling extension {number} that this link disabled"
        elif changes:
            kind, reason = ActionKind.UPDATE, Reason.FIELDS_CHANGED
            msg = f"directory changed {', '.join(c.field for c in changes)}"
        else:
            self._not_renumbered(binding, ext, None)
            return []
        notes = profile.notes
        moved = self._not_renumbered(binding, ext, msg) if ext is not None else None
        if moved:
            notes = (*notes, moved)
        return [_Pending(kind, binding, profile.email, changes, reason, msg, notes)]

    def _not_renumbered(
        self, binding: Binding, ext: Extension | None, pending: str | None
    ) -> str | None:
        """A bound user whose rule's range no longer holds the number keeps it; say so.

        With a pending write the words go into its notes; otherwise they are a plan line."""
        if ext is None or not self.inp.policy.group_rules:
            return None
        rule = self.inp.rule_of(binding.user_id).rule
        ranges = rule.ranges if rule is not None and rule.ranges else self.inp.policy.ranges
        if not ranges or spec_contains(ranges, binding.number):
            return None
        words = f"would move to range {format_number_spec(ranges)}; not renumbered"
        if pending is None:
            msg = f"extension {binding.number}: {words}"
            self._skip(
                binding.user_id,
                binding.number,
                Reason.NOT_RENUMBERED,
                msg,
                self.inp.email(binding.user_id),
            )
        return words

    def _settle(self, p: _Pending, moves: EmailMoves) -> None:
        number, uid = p.binding.number, p.binding.user_id
        clash = moves.rejected.get(number)
        if clash is None:
            self.actions.append(
                Action(p.kind, p.reason, uid, number, p.email, p.changes, p.message, notes=p.notes)
            )
            return
        self.actions.append(self._email_conflict(uid, number, p.email, clash))
        kept = tuple(c for c in p.changes if c.field != EMAIL)
        if p.kind is ActionKind.ENABLE or (p.kind is ActionKind.UPDATE and kept):
            self.actions.append(
                Action(p.kind, p.reason, uid, number, p.email, kept, p.message, notes=p.notes)
            )

    def _leaving(self, binding: Binding, ext: Extension | None, standing: Reason) -> None:
        uid, number = binding.user_id, binding.number
        words = _LEAVING_WORDS[standing]
        if ext is None or ext.disabled:
            return
        email = self.inp.email(uid)
        if standing is Reason.SCOPE_UNKNOWN:
            self._skip(uid, number, standing, f"user {words}; extension {number} is left as is")
        elif not disables_for(standing, self.inp.policy):
            msg = f"user {words}; the link's policy keeps extension {number} enabled"
            self._skip(uid, number, Reason.KEPT_BY_POLICY, msg, email)
        elif not self.inp.directory_usable:
            msg = (
                f"user {words}, but the directory read failed or returned nobody, "
                f"so extension {number} is not disabled"
            )
            self._skip(uid, number, Reason.DIRECTORY_INCOMPLETE, msg, email)
        else:
            msg = f"user {words}; disabling extension {number}"
            self.actions.append(
                Action(ActionKind.DISABLE, standing, uid, number, email, message=msg)
            )

    # unbound users

    def _unbound(self, uid: str, moves: EmailMoves) -> None:
        standing = self.inp.standing(uid)
        if standing is not Reason.ACTIVE:
            if self.inp.users[uid].removed is None:
                self._skip(uid, None, standing, f"user {_LEAVING_WORDS[standing]}")
            return
        email = self.inp.email(uid)
        if email is None:
            self._no_email(uid)
            return
        sharing = self.inp.unbound_users_with(email)
        if len(sharing) > 1:
            twins = [other for other in sharing if other != uid]
            msg = f"{email} is also the email of user {', '.join(twins)}; none of them is linked"
            self._conflict(uid, None, email, ConflictKind.EMAIL, msg)
            return
        holders = moves.holders_after(email)
        if len(holders) == 1 and holders[0] not in self.inp.binding_by_number:
            self._bind(uid, self.inp.extensions[holders[0]])
        elif holders:
            self.actions.append(self._email_conflict(uid, None, email, holders))
        elif self.inp.policy.auto_create:
            self._create(uid, email)
        else:
            msg = "no extension has this user's email and automatic creation is off"
            self._skip(uid, None, Reason.AUTO_CREATE_OFF, msg, email)

    def _bind(self, uid: str, ext: Extension) -> None:
        profile = self.inp.profile(uid)
        notes = profile.notes
        if ext.disabled:
            notes += (
                f"extension {ext.number} is disabled and this link did not disable it, "
                "so it stays disabled",
            )
        msg = f"linking to extension {ext.number}, which has the user's email"
        self.actions.append(
            Action(
                ActionKind.BIND,
                Reason.EMAIL_MATCH,
                uid,
                ext.number,
                profile.email,
                changes_for(profile, ext),
                msg,
                notes=notes,
            )
        )

    def _create(self, uid: str, email: str) -> None:
        if self.inp.rules_unknown:
            msg = "the group rules' memberships could not be read, so the number is unknown"
            self._skip(uid, None, Reason.SCOPE_UNKNOWN, msg, email)
            return
        rule = self.inp.rule_of(uid).rule
        if rule is not None and rule.number_from:
            number = self._directory_number(uid, email, rule)
        else:
            number = self.pool(rule).next_free()
            if number is None:
                self._conflict(
                    uid, None, email, ConflictKind.RANGE_FULL, _range_full_message(self.inp, rule)
                )
                return
        if number is None:
            return
        profile = self.inp.profile(uid)
        changes = changes_for(profile, None)
        if rule is not None and rule.template:
            # Applied once, at create: later rounds never touch these fields again.
            changes = (*changes, *(FieldChange(k, "", v) for k, v in rule.template))
        self.actions.append(
            Action(
                ActionKind.CREATE,
                Reason.NEW_USER,
                uid,
                number,
                email,
                changes,
                f"new extension {number}",
                notes=profile.notes,
            )
        )

    def _directory_number(self, uid: str, email: str, rule: GroupRule) -> str | None:
        """The number from the user's business phone or attribute, or a conflict (never
        written): none, not a number, outside the rule's range, in use, or given twice."""
        got = take_directory_number(
            self.inp, rule, self.inp.users[uid], self.pool(rule), self._given
        )
        if isinstance(got, str):
            return got
        self.actions.append(
            Action(
                ActionKind.CONFLICT,
                Reason.CONFLICT,
                uid,
                got.number,
                email,
                message=got.message,
                conflict=got.kind,
                suggested_number=got.suggested,
            )
        )
        return None

    def _no_email(self, uid: str) -> None:
        msg = "the user has no usable email (mail or user principal name)"
        if self.inp.policy.auto_create:
            self._conflict(uid, None, None, ConflictKind.NO_EMAIL, msg)
        else:
            self._skip(uid, None, Reason.NO_EMAIL, msg)

    # small builders

    def _email_conflict(
        self, uid: str, number: str | None, email: str | None, holders: Iterable[str]
    ) -> Action:
        where = describe_holders(self.inp, holders)
        return Action(
            ActionKind.CONFLICT,
            Reason.CONFLICT,
            uid,
            number,
            email,
            message=f"{email} is already on {where}",
            conflict=ConflictKind.EMAIL,
        )

    def _conflict(
        self, uid: str, number: str | None, email: str | None, kind: ConflictKind, msg: str
    ) -> None:
        self.actions.append(
            Action(
                ActionKind.CONFLICT, Reason.CONFLICT, uid, number, email, message=msg, conflict=kind
            )
        )

    def _skip(
        self, uid: str, number: str | None, reason: Reason, msg: str, email: str | None = None
    ) -> None:
        self.actions.append(Action(ActionKind.SKIP, reason, uid, number, email, message=msg))


def _moves(p: _Pending) -> bool:
    return p.email is not None and any(c.field == EMAIL for c in p.changes)


def _range_full_message(inp: PlanInput, rule: GroupRule | None = None) -> str:
    if rule is not None and rule.ranges:
        return f"no free number left in {format_number_spec(rule.ranges)} (rule {rule.name})"
    ranges = format_number_spec(inp.policy.ranges)
    if not ranges:
        return "no number range is configured for this link"
    return f"no free number left in {ranges}"
