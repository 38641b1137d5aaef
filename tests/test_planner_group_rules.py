"""Group rules (issue 17): rule choice, per-rule ranges, templates, no renumbering, hunt groups."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from store.models import Binding, DirectoryUser, Extension
from worker.planner import (
    ActionKind,
    Plan,
    PlanInput,
    Policy,
    PolicyError,
    Reason,
    plan_round,
    plan_sweep,
)
from worker.planner.numbering import spec_contains
from worker.planner.rules import parse_rules
from worker.planner.simulate import apply_plan

SALES, SUPPORT, DESK = "g-sales", "g-support", "g-desk"
RULES = [
    {
        "name": "Desk",
        "group_id": DESK,
        "ranges": "500-599",
        "number_from": "business_phone",
        "digits": 3,
    },
    {"name": "Sales", "group_id": SALES, "ranges": "300-309"},
    {
        "name": "Support",
        "group_id": SUPPORT,
        "ranges": "400-409",
        "template": {"dial_plan": "intl", "mb_enable": True, "department": "Support"},
        "hunt_group": "800",
    },
]
PHONES = ["+1 425 555 0512", "555-0513", "0512", "+1 425 555 0700", "", "12"]
FAST = settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None
)


def policy(**extra: Any) -> Policy:
    return Policy.from_settings(
        {"auto_create": True, "ranges": "200-209", "group_rules": RULES, **extra}
    )


def user(uid: str) -> DirectoryUser:
    return DirectoryUser(uid, given_name=uid, surname="X", mail=f"{uid}@example.com")


def inp_of(
    users: list[DirectoryUser],
    members: dict[str, frozenset[str]] | None,
    *,
    exts: tuple[Extension, ...] = (),
    bindings: tuple[Binding, ...] = (),
) -> PlanInput:
    return PlanInput(
        users={u.id: u for u in users},
        extensions={e.number: e for e in exts},
        bindings=bindings,
        policy=policy(),
        now=0.0,
        other_accounts={"800": "hunts"},
        group_members=members,
    )


def test_first_matching_rule_applies_and_default_catches_the_rest() -> None:
    users = [user("a"), user("b"), user("c")]
    members = {SALES: frozenset({"a", "b"}), SUPPORT: frozenset({"B"})}  # ids: any case
    plan = plan_sweep(inp_of(users, members))
    created = {a.user_id: a for a in plan.by_kind(ActionKind.CREATE)}
    assert created["a"].number == "300" and created["a"].rule == "Sales"
    assert created["b"].number == "301" and created["b"].rule == "Sales"  # first rule wins
    assert created["c"].number == "200" and created["c"].rule == "default"
    assert "rule Sales: member of group g-sales" in created["a"].notes
    assert "rule default: in none of the rules' groups" in created["c"].notes
    data = plan.to_json()
    assert {a["user_id"]: a["rule"] for a in data["actions"]} == {
        "a": "Sales",
        "b": "Sales",
        "c": "default",
    }


def test_template_is_sent_once_at_create_only() -> None:
    members = {SUPPORT: frozenset({"s"})}
    plan = plan_sweep(inp_of([user("s")], members))
    (create,) = plan.by_kind(ActionKind.CREATE)
    assert create.number == "400"
    values = create.new_values()
    assert values["dial_plan"] == "intl" and values["mb_enable"] == "true"
    assert values["department"] == "Support" and values["first_name"] == "s"
    # Once created, a later plan does not send the template again (the admin may change it).
    after = apply_plan(inp_of([user("s")], members), plan)
    again = plan_sweep(after)
    assert not again.writes


def test_moving_between_groups_never_renumbers() -> None:
    members = {SUPPORT: frozenset({"m"})}
    ext = Extension("301", "m", "X", "m@example.com")
    inp = inp_of([user("m")], members, exts=(ext,), bindings=(Binding("m", "301"),))
    plan = plan_round(inp, ["m"])
    assert not plan.writes
    (line,) = plan.by_kind(ActionKind.SKIP)
    assert line.reason is Reason.NOT_RENUMBERED
    assert line.message == "extension 301: would move to range 400-409; not renumbered"
    assert plan.hunts[0].members == ("301",)  # still joins the Support hunt group


def test_unknown_memberships_create_nobody_and_leave_hunts_alone() -> None:
    plan = plan_sweep(inp_of([user("a")], None))
    assert not plan.writes
    assert plan.by_kind(ActionKind.SKIP)[0].reason is Reason.SCOPE_UNKNOWN
    assert plan.hunts[0].problem


def test_hunt_members_follow_join_leave_and_disable() -> None:
    exts = (
        Extension("400", "a", "X", "a@example.com"),
        Extension("401", "b", "X", "b@example.com"),
    )
    binds = (Binding("a", "400"), Binding("b", "401"))
    gone = DirectoryUser(
        "b", given_name="b", surname="X", mail="b@example.com", account_enabled=False
    )
    inp = inp_of([user("a"), gone], {SUPPORT: frozenset({"a", "b"})}, exts=exts, bindings=binds)
    plan = plan_sweep(inp)
    assert [a.number for a in plan.by_kind(ActionKind.DISABLE)] == ["401"]
    assert plan.hunts[0].members == ("400",)
    # "a" leaves the Support group: out of the hunt group, but still in scope (not disabled).
    left = inp_of([user("a")], {SUPPORT: frozenset()}, exts=exts[:1], bindings=binds[:1])
    plan = plan_sweep(left)
    assert plan.hunts[0].members == ()
    assert not plan.by_kind(ActionKind.DISABLE)


def test_an_extension_disabled_on_the_pbx_is_no_hunt_member() -> None:
    """Disabled by someone else (not this link): it stays disabled and out of the hunt."""
    ext = Extension("400", "a", "X", "a@example.com", disabled=True)
    inp = inp_of(
        [user("a")], {SUPPORT: frozenset({"a"})}, exts=(ext,), bindings=(Binding("a", "400"),)
    )
    assert plan_sweep(inp).hunts[0].members == ()


def test_hunt_number_that_is_no_hunt_group_is_a_problem_not_a_write() -> None:
    inp = PlanInput(
        users={}, extensions={}, bindings=(), policy=policy(), now=0.0, group_members={}
    )
    (hunt,) = plan_sweep(inp).hunts
    assert hunt.problem == "there is no hunt group 800 on the PBX"


@pytest.mark.parametrize(
    ("rules", "words"),
    [
        ([{"name": "X", "group_id": "g", "template": {"first_name": "A"}}], "first_name"),
        ([{"name": "X", "group_id": "g", "template": {"nope": "1"}}], "nope"),
        (
            [
                {"name": "X", "group_id": "g", "ranges": "300-310"},
                {"name": "Y", "group_id": "h", "ranges": "305"},
            ],
            "overlap",
        ),
        ([{"name": "X", "group_id": "g"}, {"name": "x", "group_id": "h"}], "named twice"),
        ([{"name": "default", "group_id": "g"}], "link's own rule"),
        ([{"name": "X", "group_id": "g", "hunt_group": "80a"}], "hunt_group"),
        ([{"name": "X", "group_id": "g?"}], "group_id"),
        ([{"name": "X", "group_id": "g", "colour": "red"}], "unknown key"),
        ("[not json", "JSON list"),
        ([{"name": "X", "group_id": "g", "template": {"comment": "a\nb"}}], "printable"),
    ],
)
def test_bad_rules_are_refused(rules: Any, words: str) -> None:
    with pytest.raises(PolicyError) as caught:
        Policy.from_settings({"group_rules": rules})
    assert caught.value.field == "group_rules" and words in caught.value.message


def test_rules_round_trip_and_accept_json_text() -> None:
    p = Policy.from_settings({"group_rules": json.dumps(RULES)})
    assert Policy.from_settings(p.to_settings()) == p
    assert p.group_rules == parse_rules(RULES)


def phone_user(uid: str, phone: str) -> DirectoryUser:
    return DirectoryUser(
        uid, given_name=uid, surname="X", mail=f"{uid}@example.com", business_phones=(phone,)
    )


def test_number_from_the_business_phone_with_its_conflicts() -> None:
    users = [
        phone_user("a", "+1 (425) 555-0512"),  # 512
        phone_user("b", "+49 30 1234 0512"),  # 512 again: a duplicate in this plan
        phone_user("c", "+1 425 555 0700"),  # 700: outside 500-599
        phone_user("d", "+1 425 555 0501"),  # 501: in use on the PBX
        phone_user("e", "x"),  # no digits
    ]
    members = {DESK: frozenset("abcde")}
    exts = (Extension("501", "Old", "Ext", "old@example.com"),)
    plan = plan_sweep(inp_of(users, members, exts=exts))
    (create,) = plan.by_kind(ActionKind.CREATE)
    assert (create.user_id, create.number, create.rule) == ("a", "512", "Desk")
    conflicts = {a.user_id: a for a in plan.by_kind(ActionKind.CONFLICT)}
    assert (
        conflicts["b"].message == "512 from the business phone is also another user's in this plan"
    )
    assert conflicts["b"].suggested_number == "513"
    assert conflicts["c"].message == "700 from the business phone is outside 500-599 (rule Desk)"
    assert conflicts["d"].message == "501 from the business phone is in use on the PBX"
    assert conflicts["e"].message.startswith("no business phone with 3 digits")
    assert not any(a.number in ("700", "501") for a in plan.writes)


# properties


@st.composite
def rule_inputs(draw: st.DrawFn) -> PlanInput:
    ids = [f"u{i}" for i in range(draw(st.integers(0, 14)))]
    desk = frozenset(draw(st.lists(st.sampled_from(ids), unique=True)) if ids else [])
    sales = frozenset(draw(st.lists(st.sampled_from(ids), unique=True)) if ids else [])
    support = frozenset(draw(st.lists(st.sampled_from(ids), unique=True)) if ids else [])
    taken = draw(
        st.lists(st.sampled_from(["200", "300", "301", "400", "401", "405", "512"]), unique=True)
    )
    exts = tuple(Extension(n, "Old", "Ext", f"old{n}@example.com") for n in taken)
    users = [
        DirectoryUser(
            uid,
            given_name=uid,
            surname="X",
            mail=f"{uid}@example.com",
            account_enabled=draw(st.sampled_from([True, True, False])),
            business_phones=(draw(st.sampled_from(PHONES)),),
        )
        for uid in ids
    ]
    return PlanInput(
        users={u.id: u for u in users},
        extensions={e.number: e for e in exts},
        bindings=(),
        policy=policy(),
        now=0.0,
        other_accounts={"800": "hunts"},
        group_members={SALES: sales, SUPPORT: support, DESK: desk},
    )


def _rule_ranges(inp: PlanInput, name: str) -> Any:
    for rule in inp.policy.group_rules:
        if rule.name == name:
            return rule.ranges
    return inp.policy.ranges


@FAST
@given(rule_inputs())
def test_property_numbers_unique_in_their_rules_range_hunts_exact_deterministic(
    inp: PlanInput,
) -> None:
    plan = plan_sweep(inp)
    created = plan.by_kind(ActionKind.CREATE)
    numbers = [a.number for a in created]
    assert len(numbers) == len(set(numbers)), "a number given twice"
    for action in created:
        assert action.rule == inp.rule_of(action.user_id or "").name
        assert spec_contains(_rule_ranges(inp, action.rule or ""), action.number or "")
        if action.rule == "Desk":  # from the directory: the phone's last three digits
            phone = inp.users[action.user_id or ""].business_phones[0]
            assert "".join(c for c in phone if c.isdigit())[-3:] == action.number
        assert action.number not in inp.extensions
    # The hunt group holds exactly the Support rule's active users with an extension.
    after = apply_plan(inp, plan)
    support = {
        b.number
        for b in after.bindings
        if after.rule_of(b.user_id).name == "Support"
        and after.standing(b.user_id) is Reason.ACTIVE
        and not after.extensions[b.number].disabled
    }
    assert set(plan.hunts[0].members) == support
    assert set(plan_sweep(after).hunts[0].members) == support
    # Deterministic: the same input plans the same, and the JSON survives a round trip.
    again = plan_sweep(
        PlanInput(
            users=dict(reversed(list(inp.users.items()))),
            extensions=inp.extensions,
            bindings=inp.bindings,
            policy=inp.policy,
            now=inp.now,
            other_accounts=inp.other_accounts,
            group_members=inp.group_members,
        )
    )
    assert again.to_json() == plan.to_json()
    assert Plan.from_json(plan.to_json()) == plan
