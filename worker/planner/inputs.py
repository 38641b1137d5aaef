"""What a plan is made from, and the indexes every planner function shares."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property

from store.models import Binding, DirectoryUser, Extension
from worker.planner.actions import Reason
from worker.planner.directory import (
    Profile,
    clean_email,
    profile_of,
    standing_of,
    user_email,
)
from worker.planner.numbering import NumberPool, spec_contains
from worker.planner.policy import Policy
from worker.planner.rules import GroupRule, RuleChoice, choose_rule


@dataclass(frozen=True, kw_only=True, eq=False)
class PlanInput:
    """Everything one plan depends on. Immutable; indexes are built on first use and kept.

    users: every directory user known for the link, removed ones included, by Graph id.
    extensions: the PBX's extensions by number; must be complete, since free numbers are
        computed from it.
    bindings: the link's Graph id <-> number pairs.
    in_scope_ids: None when the policy does not scope by group; else the transitive members
        of the chosen groups, compared case-insensitively (None with scope "groups" means
        the group read failed: nobody is created, bound or disabled for scope reasons).
    released: number -> when it was freed (epoch seconds), for the cool-off.
    other_accounts: number -> usertype of every PBX account that is not an extension (hunt
        groups, queues, IVRs, conferences, ..., and alias names): in use, never handed out.
    now: epoch seconds.
    directory_complete: False when the directory read failed or was partial: no disables.
    held_numbers: the extensions whose disable is held for approval now (the link's held
        list): they are not held again, and while there are any every new disable is held.
    recent_disables: how many extensions the link disabled within the policy's
        `disable_window_minutes` before this plan (approved disables not counted); they count
        toward this plan's disable limit.
    group_members: the transitive members (user ids, any case) of every group a group rule
        names, by group id in lower case; None when the group read failed (then nobody is
        created while the link has group rules: the rule, and so the number, is unknown).
    """

    users: Mapping[str, DirectoryUser]
    extensions: Mapping[str, Extension]
    bindings: Sequence[Binding]
    policy: Policy
    now: float
    in_scope_ids: frozenset[str] | None = None
    released: Mapping[str, float] = field(default_factory=dict)
    directory_complete: bool = True
    other_accounts: Mapping[str, str] = field(default_factory=dict)
    held_numbers: frozenset[str] = frozenset()
    recent_disables: int = 0
    group_members: Mapping[str, frozenset[str]] | None = field(default_factory=dict)

    @cached_property
    def binding_by_user(self) -> dict[str, Binding]:
        """One binding per user; should the store ever hold two, the lowest number wins."""
        found: dict[str, Binding] = {}
        for b in self.bindings:
            seen = found.get(b.user_id)
            if seen is None or _number_key(b.number) < _number_key(seen.number):
                found[b.user_id] = b
        return found

    @cached_property
    def binding_by_number(self) -> dict[str, Binding]:
        """One binding per number; should the store ever hold two, the lowest user id wins."""
        found: dict[str, Binding] = {}
        for b in self.bindings:
            seen = found.get(b.number)
            if seen is None or b.user_id < seen.user_id:
                found[b.number] = b
        return found

    @cached_property
    def numbers_by_email(self) -> dict[str, tuple[str, ...]]:
        """Extension numbers per email (trimmed, lower case) as the PBX holds them now."""
        found: dict[str, list[str]] = {}
        for number, ext in self.extensions.items():
            email = clean_email(ext.email)
            if email:
                found.setdefault(email, []).append(number)
        return {e: tuple(sorted(ns, key=_number_key)) for e, ns in found.items()}

    @cached_property
    def present_emails(self) -> frozenset[str]:
        """Every mail and UPN of a user not removed from the directory (any type or scope)."""
        # Unvalidated on purpose: only extensions' emails are looked up in it, and junk in the
        # directory can never equal a real address there.
        emails: set[str] = set()
        for user in self.users.values():
            if user.removed is None:
                emails.add((user.mail or "").strip().lower())
                emails.add((user.user_principal_name or "").strip().lower())
        emails.discard("")
        return frozenset(emails)

    @cached_property
    def _users_by_raw_email(self) -> dict[str, list[str]]:
        """Users per trimmed, lower-cased mail and UPN, unchecked: a superset of any email
        `email()` can return, cheap enough that a round of one user need not check everyone."""
        found: dict[str, list[str]] = {}
        for user_id, user in self.users.items():
            for value in (user.mail, user.user_principal_name):
                if value:
                    ids = found.setdefault(value.strip().lower(), [])
                    if not ids or ids[-1] != user_id:  # mail and UPN are often the same
                        ids.append(user_id)
        return found

    def unbound_users_with(self, email: str) -> tuple[str, ...]:
        """Active users without a binding whose email is `email`; two or more is a conflict."""
        bound = self.binding_by_user
        candidates = self._users_by_raw_email.get(email, ())
        if len(candidates) == 1:  # the common case: nobody else has this address
            uid = candidates[0]
            ok = uid not in bound and self.standing(uid) is Reason.ACTIVE
            return (uid,) if ok and self.email(uid) == email else ()
        return tuple(
            sorted(
                uid
                for uid in candidates
                if uid not in bound
                and self.standing(uid) is Reason.ACTIVE
                and self.email(uid) == email
            )
        )

    @cached_property
    def directory_usable(self) -> bool:
        """False when disables must not happen: a failed read, or no users while bindings exist."""
        if not self.directory_complete:
            return False
        if not self.bindings:
            return True
        return any(user.removed is None for user in self.users.values())

    @cached_property
    def _in_scope_lower(self) -> frozenset[str] | None:
        if self.in_scope_ids is None:
            return None
        return frozenset(uid.lower() for uid in self.in_scope_ids)

    @cached_property
    def _profiles(self) -> dict[str, Profile]:
        return {}

    @cached_property
    def _standings(self) -> dict[str, Reason]:
        return {}

    @cached_property
    def _emails(self) -> dict[str, str | None]:
        return {}

    def profile(self, user_id: str, current_cell: str = "") -> Profile:
        """The directory-owned fields of a user, computed once per input.

        `current_cell` (the bound extension's cell) only saves work, see `profile_of`.
        """
        cached = self._profiles.get(user_id)
        if cached is None:
            user = self.users[user_id]
            cached = profile_of(user, self.policy, self.email(user_id), current_cell)
            self._profiles[user_id] = cached
        return cached

    def know_everyone(self) -> None:
        """Compute every user's standing and email at once (a sweep needs them all, and one
        pass is cheaper than a lookup-or-compute per user)."""
        policy, in_scope, emails = self.policy, self._in_scope_lower, self._emails
        self._standings.update(
            (uid, standing_of(user, policy, in_scope)) for uid, user in self.users.items()
        )
        emails.update((uid, user_email(user, policy)) for uid, user in self.users.items())

    def standing(self, user_id: str) -> Reason:
        """Reason.ACTIVE, or why the user does not count (deleted, guest...)."""
        cached = self._standings.get(user_id)
        if cached is None:
            user = self.users[user_id]
            cached = standing_of(user, self.policy, self._in_scope_lower)
            self._standings[user_id] = cached
        return cached

    def email(self, user_id: str) -> str | None:
        """The email by the policy's source, checked and lower-cased, or None."""
        emails = self._emails
        if user_id in emails:
            return emails[user_id]
        email = emails[user_id] = user_email(self.users[user_id], self.policy)
        return email

    def is_blocked(self, number: str) -> bool:
        """May `number` not be given to a new extension (in use by an extension or any other
        PBX account, bound, reserved, cooling off)?"""
        if number in self.extensions or number in self.binding_by_number:
            return True
        if number in self.other_accounts:
            return True
        if spec_contains(self.policy.reserved, number):
            return True
        freed_at = self.released.get(number)
        return freed_at is not None and self.now - freed_at < self.policy.cooloff_s

    def number_pool(
        self, rule: GroupRule | None = None, given: set[str] | None = None
    ) -> NumberPool:
        """A fresh pool for one plan: numbers it hands out are not handed out again.

        With `rule`, the rule's own ranges (else the link's); pools sharing `given` never
        hand out one number twice."""
        ranges = rule.ranges if rule is not None and rule.ranges else self.policy.ranges
        return NumberPool(ranges, self.is_blocked, given)

    @cached_property
    def _members_lower(self) -> dict[str, frozenset[str]] | None:
        if self.group_members is None:
            return None
        return {
            gid.lower(): frozenset(uid.lower() for uid in ids)
            for gid, ids in self.group_members.items()
        }

    @cached_property
    def _rule_choices(self) -> dict[str, RuleChoice]:
        return {}

    def rule_of(self, user_id: str) -> RuleChoice:
        """The group rule that applies to the user (first match), and why."""
        cached = self._rule_choices.get(user_id)
        if cached is None:
            cached = choose_rule(self.policy.group_rules, user_id, self._members_lower)
            self._rule_choices[user_id] = cached
        return cached

    @property
    def rules_unknown(self) -> bool:
        """Group rules exist but their memberships could not be read."""
        return bool(self.policy.group_rules) and self.group_members is None


def _number_key(number: str) -> tuple[int, str]:
    """Numeric order for extension numbers: "99" before "100"."""
    return len(number), number
