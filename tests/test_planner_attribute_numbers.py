"""Group rules whose number comes from employeeId or extensionAttribute1..15 (issue 17):
rule parsing, the planner's numbers and conflicts in rounds and the popup, and a property."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from store.models import DirectoryUser, Extension
from worker.directory import merge_item
from worker.planner import ActionKind, PlanInput, Policy, plan_selection, plan_sweep
from worker.planner.numbering import spec_contains
from worker.planner.rules import RuleError, directory_number, parse_rules
from worker.planner.simulate import apply_plan

BADGE, DESK = "g-badge", "g-desk"
RULES = [
    {"name": "Badge", "group_id": BADGE, "ranges": "400-449", "number_from": "employeeId"},
    {
        "name": "Desk",
        "group_id": DESK,
        "ranges": "600-699",
        "number_from": "extensionAttribute15",
        "digits": 3,
        "template": {"department": "Desk"},
    },
]
VALUES = ["415", "0415", " 420 ", "E0415", "449", "450", "", "x1", "41", "12345", "1620", "620"]
FAST = settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None
)


def user(uid: str, employee_id: str | None = None, ea15: str | None = None) -> DirectoryUser:
    attrs = (("extensionAttribute15", ea15),) if ea15 is not None else ()
    return DirectoryUser(
        uid,
        given_name=uid,
        surname="X",
        mail=f"{uid}@example.com",
        employee_id=employee_id,
        extension_attributes=attrs,
    )


def inp_of(
    users: list[DirectoryUser],
    members: dict[str, frozenset[str]],
    exts: tuple[Extension, ...] = (),
    **extra: Any,
) -> PlanInput:
    policy = Policy.from_settings(
        {"auto_create": True, "ranges": "200-209", "group_rules": RULES, **extra}
    )
    return PlanInput(
        users={u.id: u for u in users},
        extensions={e.number: e for e in exts},
        bindings=(),
        policy=policy,
        now=0.0,
        group_members=members,
    )


def test_rules_accept_employee_id_and_the_fifteen_attributes_only() -> None:
    for source in ["employeeId", "extensionAttribute1", "extensionAttribute15"]:
        (rule,) = parse_rules([{"name": "R", "group_id": "g", "number_from": source}])
        assert (rule.number_from, rule.digits) == (source, 0)
    (rule,) = parse_rules(
        [{"name": "R", "group_id": "g", "number_from": "extensionAttribute3", "digits": "4"}]
    )
    assert rule.digits == 4
    for bad in ["extensionAttribute0", "extensionAttribute16", "employeeid", "mail"]:
        with pytest.raises(RuleError, match="number_from must be"):
            parse_rules([{"name": "R", "group_id": "g", "number_from": bad}])
    with pytest.raises(RuleError, match="digits must be between 2 and 6"):
        parse_rules([{"name": "R", "group_id": "g", "number_from": "employeeId", "digits": 9}])


def test_directory_number_is_the_value_all_digits_or_its_last_digits() -> None:
    badge, desk = parse_rules(RULES)
    assert directory_number(badge, user("a", " 415 ")) == "415"
    assert directory_number(badge, user("a", "E415")) is None
    assert directory_number(badge, user("a", "4 15")) is None
    assert directory_number(badge, user("a", "٤١٥")) is None  # non-ASCII digits
    assert directory_number(badge, user("a")) is None
    assert directory_number(desk, user("a", ea15="100620")) == "620"
    assert directory_number(desk, user("a", ea15="20")) is None


def test_round_numbers_from_the_attributes_with_every_conflict_shown_never_written() -> None:
    users = [
        user("a", "415"),
        user("b", "415"),  # the same number again in this plan
        user("c", "470"),  # outside 400-449
        user("d", "401"),  # in use on the PBX
        user("e", "E0415"),  # not a number
        user("f"),  # none
        user("g", "0415"),  # not an extension number
        user("h", ea15="99620"),  # Desk: the last three digits, with the template
        user("i", "430"),  # in no rule's group: the link's own range, employeeId ignored
    ]
    members = {BADGE: frozenset("abcdefg"), DESK: frozenset("h")}
    exts = (Extension("401", "Old", "Ext", "old@example.com"),)
    plan = plan_sweep(inp_of(users, members, exts))
    created = {a.user_id: a for a in plan.by_kind(ActionKind.CREATE)}
    assert {u: a.number for u, a in created.items()} == {"a": "415", "h": "620", "i": "200"}
    assert ("department", "", "Desk") in created["h"].changes
    messages = {a.user_id: a.message for a in plan.by_kind(ActionKind.CONFLICT)}
    assert messages == {
        "b": "415 from employeeId is also another user's in this plan",
        "c": "470 from employeeId is outside 400-449 (rule Badge)",
        "d": "401 from employeeId is in use on the PBX",
        "e": "employeeId 'E0415' is not a number (rule Badge)",
        "f": "no employeeId to take the number from (rule Badge)",
        "g": "0415 from employeeId is not an extension number (2 to 6 digits, not 0...) "
        "(rule Badge)",
    }
    assert not any(a.number in ("470", "401", "0415") for a in plan.writes)


def test_popup_numbers_by_the_rule_like_a_round() -> None:
    users = [user("a", "415"), user("b", "415"), user("c"), user("d", ea15="620")]
    members = {BADGE: frozenset("abc"), DESK: frozenset("d")}
    inp = inp_of(users, members, auto_create=False)
    plan = plan_selection(inp, [("a", None), ("b", None), ("c", "430"), ("d", None)])
    created = {a.user_id: a for a in plan.by_kind(ActionKind.CREATE)}
    assert {u: a.number for u, a in created.items()} == {"a": "415", "c": "430", "d": "620"}
    assert created["d"].rule == "Desk" and ("department", "", "Desk") in created["d"].changes
    assert created["c"].rule == "Badge"  # a typed number is the admin's choice, in range
    (conflict,) = plan.by_kind(ActionKind.CONFLICT)
    assert (conflict.user_id, conflict.message) == (
        "b",
        "415 from employeeId is also another user's in this plan",
    )
    refused = plan_selection(inp, [("c", "250")])
    (typed,) = refused.by_kind(ActionKind.CONFLICT)
    assert typed.message.startswith("250 is outside the ranges of rule Badge (400-449)")
    unknown = PlanInput(
        users=inp.users, extensions={}, bindings=(), policy=inp.policy, now=0.0, group_members=None
    )
    (skip,) = plan_selection(unknown, [("a", None)]).actions
    assert skip.kind is ActionKind.SKIP and "memberships could not be read" in skip.message


def test_delta_items_carry_the_attributes_and_bad_values_are_dropped() -> None:
    item = {
        "id": "A",
        "employeeId": " 415 ",
        "onPremisesExtensionAttributes": {
            "extensionAttribute1": "Sales",
            "extensionAttribute2": None,
            "extensionAttribute3": 433,  # not a string: never trusted
            "extensionAttribute4": "x" * 1025,  # longer than Graph allows
            "extensionAttribute15": "620",
            "extensionAttribute16": "1",  # no such attribute
        },
    }
    merged = merge_item(None, item, 1.0)
    assert merged is not None and merged.employee_id == "415"
    assert merged.extension_attributes == (
        ("extensionAttribute1", "Sales"),
        ("extensionAttribute15", "620"),
    )
    # A minimal delta item without the property keeps what we knew; a null clears it.
    assert merge_item(merged, {"id": "a", "mail": "a@x"}, 2.0).extension_attributes  # type: ignore[union-attr]
    cleared = merge_item(merged, {"id": "a", "onPremisesExtensionAttributes": None}, 3.0)
    assert cleared is not None and cleared.extension_attributes == ()


@st.composite
def attribute_inputs(draw: st.DrawFn) -> PlanInput:
    ids = [f"u{i}" for i in range(draw(st.integers(0, 14)))]
    badge = frozenset(draw(st.lists(st.sampled_from(ids), unique=True)) if ids else [])
    desk = frozenset(draw(st.lists(st.sampled_from(ids), unique=True)) if ids else [])
    taken = draw(st.lists(st.sampled_from(["200", "401", "415", "620"]), unique=True))
    exts = tuple(Extension(n, "Old", "Ext", f"old{n}@example.com") for n in taken)
    users = [
        user(
            uid,
            draw(st.sampled_from([None, *VALUES])),
            draw(st.sampled_from([None, *VALUES])),
        )
        for uid in ids
    ]
    return inp_of(users, {BADGE: badge, DESK: desk}, exts)


@FAST
@given(attribute_inputs())
def test_property_attribute_numbers_unique_in_range_from_the_directory(inp: PlanInput) -> None:
    for plan in (plan_sweep(inp), plan_selection(inp, [(uid, None) for uid in inp.users])):
        created = plan.by_kind(ActionKind.CREATE)
        numbers = [a.number or "" for a in created]
        assert len(numbers) == len(set(numbers)), "a number given twice"
        for action in created:
            choice = inp.rule_of(action.user_id or "")
            assert action.rule == choice.name
            assert action.number not in inp.extensions
            rule = choice.rule
            if rule is None:
                assert spec_contains(inp.policy.ranges, action.number or "")
                continue
            assert spec_contains(rule.ranges, action.number or "")
            assert action.number == directory_number(rule, inp.users[action.user_id or ""])
        # Every user of a directory rule without an extension has a conflict saying why.
        for uid in inp.users:
            rule = inp.rule_of(uid).rule
            if rule is not None and uid not in {a.user_id for a in created}:
                assert any(a.user_id == uid for a in plan.by_kind(ActionKind.CONFLICT))
    # Deterministic, and applying the sweep leaves nothing more to create.
    assert plan_sweep(inp).to_json() == plan_sweep(inp).to_json()
    after = apply_plan(inp, plan_sweep(inp))
    assert not plan_sweep(after).by_kind(ActionKind.CREATE)
