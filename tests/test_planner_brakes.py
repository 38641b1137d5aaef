"""The disable brake over several plans: held stays held, a window of recent disables, each
extension held once, and held users who come back are withdrawn (worker/planner/brakes.py)."""

from __future__ import annotations

from typing import Any

import pytest

from store.models import Binding, Removal
from tests.test_planner_rules import NOW, ext, make_input, member
from worker.planner import (
    ActionKind,
    PlanInput,
    Policy,
    PolicyError,
    Reason,
    plan_disable_unmatched,
    plan_round,
    plan_sweep,
    why_held,
)

BRAKE = {"disable_threshold_count": 10, "disable_threshold_percent": 0}


def _tenant(leavers: int, stayers: int = 5, **settings: Any) -> PlanInput:
    """`leavers` soft-deleted users and `stayers` active ones, all bound to 200, 201, ..."""
    users = [member(f"u{i:02d}", removed=Removal.SOFT) for i in range(leavers)]
    users += [member(f"s{i:02d}") for i in range(stayers)]
    exts = [ext(str(200 + i), f"{u.id}@example.com") for i, u in enumerate(users)]
    binds = [Binding(u.id, str(200 + i)) for i, u in enumerate(users)]
    return make_input(users, exts, binds, **{**BRAKE, **settings})


def _with(inp: PlanInput, **fields: Any) -> PlanInput:
    return PlanInput(
        users=inp.users,
        extensions=inp.extensions,
        bindings=inp.bindings,
        policy=inp.policy,
        now=NOW,
        **fields,
    )


def test_while_disables_are_held_a_small_later_round_is_held_too() -> None:
    """One disable, far under the limit, is held because 12 others wait for approval."""
    inp = _with(_tenant(13), held_numbers=frozenset(str(200 + i) for i in range(1, 13)))
    plan = plan_round(inp, ["u00"])
    assert not plan.by_kind(ActionKind.DISABLE)
    [held] = plan.held
    assert held.number == "200"
    assert "12 disable(s) of this link already wait for approval" in why_held(held)


def test_an_extension_already_held_is_not_held_again() -> None:
    """Planning a held disable again gives a skip saying so, not a second held action."""
    inp = _with(_tenant(12), held_numbers=frozenset(str(200 + i) for i in range(12)))
    for plan in (plan_round(inp, [f"u{i:02d}" for i in range(12)]), plan_sweep(inp)):
        assert not plan.held and not plan.by_kind(ActionKind.DISABLE)
        skips = [a for a in plan.actions if a.reason is Reason.ALREADY_HELD]
        assert sorted(a.number or "" for a in skips) == [str(200 + i) for i in range(12)]
        assert all(a.kind is ActionKind.SKIP for a in skips)
        assert "already held for approval" in skips[0].message


@pytest.mark.parametrize(("recent", "held"), [(7, False), (8, True), (30, True)])
def test_disables_of_the_window_count_toward_the_limit(recent: int, held: bool) -> None:
    """3 disables now: applied after 7 recent ones (10 <= 10), held after 8 (11 > 10)."""
    plan = plan_round(_with(_tenant(3), recent_disables=recent), ["u00", "u01", "u02"])
    assert len(plan.held) == (3 if held else 0)
    assert len(plan.by_kind(ActionKind.DISABLE)) == (0 if held else 3)
    if held:
        assert f"{recent} were disabled in the last 60 minutes" in why_held(plan.held[0])
        assert "limit of 10" in why_held(plan.held[0])


def test_a_held_user_who_comes_back_is_withdrawn() -> None:
    """Restored before an admin decided: the held disable is withdrawn, nothing else happens."""
    base = _tenant(2)
    users = dict(base.users)
    users["u00"] = member("u00")  # restored
    inp = PlanInput(
        users=users,
        extensions=base.extensions,
        bindings=base.bindings,
        policy=base.policy,
        now=NOW,
        held_numbers=frozenset({"200", "201"}),
    )
    for plan in (plan_round(inp, ["u00", "u01"]), plan_sweep(inp)):
        assert plan.withdrawn == ("200",)
        assert plan.to_json()["withdrawn"] == ["200"]
        assert not plan.writes
    assert not plan_round(inp, ["u01"]).withdrawn  # only users the plan looks at


def test_disable_unmatched_waits_while_round_disables_are_held() -> None:
    """Disable Unmatched Extensions is held by the same rule (one held list per link)."""
    inp = make_input(
        [member("s00")],
        [ext("200", "s00@example.com"), ext("250", "gone@example.com")],
        [Binding("s00", "200")],
        **BRAKE,
    )
    assert plan_disable_unmatched(inp).by_kind(ActionKind.DISABLE)
    held = plan_disable_unmatched(_with(inp, held_numbers=frozenset({"209"})))
    assert [a.number for a in held.held] == ["250"] and not held.writes
    again = plan_disable_unmatched(_with(inp, held_numbers=frozenset({"250"})))
    assert not again.held and not again.writes
    assert [a.reason for a in again.actions] == [Reason.ALREADY_HELD]


def test_the_disable_window_setting_is_validated() -> None:
    """Default 60 minutes; 0 (this plan alone) up to a week; text digits accepted."""
    assert Policy().disable_window_minutes == 60
    assert Policy.from_settings({"disable_window_minutes": "0"}).disable_window_minutes == 0
    assert (
        Policy.from_settings({"disable_window_minutes": 10080}).to_settings()[
            "disable_window_minutes"
        ]
        == 10080
    )
    for bad, words in ((10081, "between 0 and 10080"), ("soon", "whole number"), (-1, "between")):
        with pytest.raises(PolicyError) as caught:
            Policy.from_settings({"disable_window_minutes": bad})
        assert caught.value.field == "disable_window_minutes"
        assert words in caught.value.message


def test_a_held_list_emptied_by_returning_users_holds_nothing_more() -> None:
    """The only held user is back in this very plan: a new small disable is applied."""
    base = _tenant(2)
    users = dict(base.users)
    users["u00"] = member("u00")  # restored; u01 leaves now
    inp = PlanInput(
        users=users,
        extensions=base.extensions,
        bindings=base.bindings,
        policy=base.policy,
        now=NOW,
        held_numbers=frozenset({"200"}),
    )
    plan = plan_round(inp, ["u00", "u01"])
    assert plan.withdrawn == ("200",)
    assert [a.number for a in plan.by_kind(ActionKind.DISABLE)] == ["201"]
