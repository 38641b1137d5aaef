"""Hunt group membership per group rule: the members a plan leaves each hunt group with.

A rule's hunt group holds exactly the extensions of the rule's active users once the plan's
writes are done: a user who joins the rule's Entra group is added, one who leaves it, is
disabled or leaves the directory is removed. The applier writes the difference (applier_hunts).
"""

from __future__ import annotations

from collections.abc import Iterable

from worker.planner.actions import Action, ActionKind, HuntTarget, Reason
from worker.planner.inputs import PlanInput
from worker.planner.rules import GroupRule


def hunt_targets(inp: PlanInput, actions: Iterable[Action]) -> tuple[HuntTarget, ...]:
    rules = [rule for rule in inp.policy.group_rules if rule.hunt_group]
    if not rules:
        return ()
    owner = {number: b.user_id for number, b in inp.binding_by_number.items()}
    disabled = {number: ext.disabled for number, ext in inp.extensions.items()}
    for action in actions:
        number = action.number or ""
        if action.kind in (ActionKind.CREATE, ActionKind.BIND) and action.user_id:
            owner[number] = action.user_id
            disabled.setdefault(number, False)
            if action.kind is ActionKind.CREATE:
                disabled[number] = False
        elif action.kind is ActionKind.ENABLE:
            disabled[number] = False
        elif action.kind is ActionKind.DISABLE:
            disabled[number] = True
    members: dict[str, list[str]] = {rule.name: [] for rule in rules}
    for number, uid in owner.items():
        if number not in disabled or disabled[number] or uid not in inp.users:
            continue
        if inp.standing(uid) is not Reason.ACTIVE:
            continue
        rule = inp.rule_of(uid).rule
        if rule is not None and rule.name in members:
            members[rule.name].append(number)
    return tuple(
        HuntTarget(
            number=rule.hunt_group,
            rule=rule.name,
            members=tuple(sorted(members[rule.name], key=lambda n: (len(n), n))),
            problem=_problem(inp, rule),
        )
        for rule in rules
    )


def _problem(inp: PlanInput, rule: GroupRule) -> str:
    number = rule.hunt_group
    if inp.rules_unknown:
        return "the rules' group memberships could not be read; the hunt group is left as is"
    if not inp.directory_usable:
        return "the directory read failed or returned nobody; the hunt group is left as is"
    if number in inp.extensions:
        return f"{number} is an extension, not a hunt group"
    usertype = inp.other_accounts.get(number)
    if usertype is None:
        return f"there is no hunt group {number} on the PBX"
    if usertype != "hunts":
        return f"{number} is not a hunt group on the PBX ({usertype})"
    return ""
