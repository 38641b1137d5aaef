"""Property tests: random directories and PBXs, and what must hold for every plan."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from store.models import Binding, DirectoryUser, Extension, Removal
from worker.planner import (
    ActionKind,
    Plan,
    PlanInput,
    Policy,
    Reason,
    plan_disable_unmatched,
    plan_round,
    plan_selection,
    plan_sweep,
)
from worker.planner.numbering import spec_contains
from worker.planner.simulate import apply_plan

NOW = 1_800_000_000.0
NUMBERS = [str(n) for n in range(198, 212)]  # the range is 200-209: some fall outside
EMAILS = [f"{name}@example.com" for name in "abcdefghijkl"]
NAMES = ["Ann", "José", "Jose\u0301", "Zoë", " Bob ", "", "O'Neil"]
PHONES = ["", "+1 425 555 0100", "(425) 555-0101", "0049 30 1234567", "junk", "+14255550100"]
FAST = settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None
)

emails = st.one_of(
    st.none(),
    st.sampled_from(EMAILS),
    st.sampled_from(EMAILS).map(lambda e: f" {e.upper()} "),
)


@st.composite
def users(draw: st.DrawFn, uid: str) -> DirectoryUser:
    return DirectoryUser(
        id=uid,
        given_name=draw(st.sampled_from(NAMES)),
        surname=draw(st.sampled_from(NAMES)),
        display_name=draw(st.sampled_from([None, "Mary Ann Lee", "Desk"])),
        mail=draw(emails),
        user_principal_name=draw(emails),
        business_phones=draw(st.lists(st.sampled_from(PHONES), max_size=2).map(tuple)),
        mobile_phone=draw(st.sampled_from([None, *PHONES])),
        account_enabled=draw(st.sampled_from([True, True, True, False, None])),
        user_type=draw(st.sampled_from(["Member", "Member", "Guest", None])),
        removed=draw(st.sampled_from([None, None, None, Removal.SOFT, Removal.HARD])),
    )


@st.composite
def extensions(draw: st.DrawFn, number: str) -> Extension:
    return Extension(
        number=number,
        first_name=draw(st.sampled_from(NAMES)),
        last_name=draw(st.sampled_from(NAMES)),
        email=draw(st.sampled_from(["", *EMAILS, "X@EXAMPLE.COM"])),
        cell=draw(st.sampled_from(PHONES)),
        disabled=draw(st.booleans()),
    )


@st.composite
def policies(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "auto_create": draw(st.booleans()),
        "ranges": draw(st.sampled_from(["200-209", "200-202"])),
        "reserved": draw(st.sampled_from(["", "205", "200-201"])),
        "include_guests": draw(st.booleans()),
        "email_source": draw(st.sampled_from(["mail_then_upn", "mail", "upn"])),
        "phone_source": draw(st.sampled_from(["business_then_mobile", "mobile", "none"])),
        "disable_on_soft_delete": draw(st.booleans()),
        "disable_on_account_disabled": draw(st.booleans()),
        "disable_threshold_count": draw(st.sampled_from([0, 1, 10])),
        "disable_threshold_percent": draw(st.sampled_from([0, 20, 50])),
        "protected": draw(st.sampled_from(["", "198-199"])),
        "unmatched_without_email": draw(st.booleans()),
        "scope": draw(st.sampled_from(["all", "all", "groups"])),
        "group_ids": ["g1"],
    }


@st.composite
def worlds(draw: st.DrawFn) -> PlanInput:
    user_ids = [f"u{i}" for i in range(draw(st.integers(0, 10)))]
    directory = {uid: draw(users(uid)) for uid in user_ids}
    numbers = draw(st.lists(st.sampled_from(NUMBERS), unique=True, max_size=10))
    pbx = {n: draw(extensions(n)) for n in numbers}
    bound_users = (
        draw(st.lists(st.sampled_from([*user_ids, "ghost"]), unique=True)) if user_ids else []
    )
    bound_numbers = draw(
        st.lists(
            st.sampled_from(NUMBERS),
            unique=True,
            min_size=len(bound_users),
            max_size=len(bound_users),
        )
    )
    bindings = tuple(
        Binding(uid, number, disabled_by_us=draw(st.booleans()))
        for uid, number in zip(bound_users, bound_numbers, strict=True)
    )
    policy = Policy.from_settings(draw(policies()))
    in_scope = None
    if policy.scope == "groups":
        in_scope = draw(
            st.sampled_from([None, frozenset()]) | st.frozensets(st.sampled_from(user_ids or ["x"]))
        )
    released = draw(st.dictionaries(st.sampled_from(NUMBERS), st.sampled_from([1, 10, 40])))
    return PlanInput(
        users=directory,
        extensions=pbx,
        bindings=bindings,
        policy=policy,
        now=NOW,
        in_scope_ids=in_scope,
        released={n: NOW - days * 86400.0 for n, days in released.items()},
        directory_complete=draw(st.sampled_from([True, True, True, False])),
        held_numbers=draw(
            st.sampled_from([frozenset(), frozenset()])
            | st.frozensets(st.sampled_from(NUMBERS), max_size=3)
        ),
        recent_disables=draw(st.sampled_from([0, 0, 3, 12])),
    )


def blocked_before(inp: PlanInput, number: str) -> bool:
    return inp.is_blocked(number) or not spec_contains(inp.policy.ranges, number)


def assert_numbers_sound(inp: PlanInput, plan: Plan) -> None:
    given_numbers = [
        a.number for a in plan.writes if a.kind in (ActionKind.CREATE, ActionKind.BIND)
    ]
    assert len(given_numbers) == len(set(given_numbers)), "a number was given twice"
    for action in plan.by_kind(ActionKind.CREATE):
        if action.reason is not Reason.EXTENSION_MISSING:
            assert not blocked_before(inp, action.number or ""), action


@FAST
@given(worlds())
def test_no_number_is_given_twice_and_creates_take_free_numbers_in_range(inp: PlanInput) -> None:
    """Created numbers are unique, inside the ranges and were free (not used/reserved/cooling)."""
    assert_numbers_sound(inp, plan_sweep(inp))


@FAST
@given(worlds(), st.data())
def test_selection_gives_unique_free_numbers(inp: PlanInput, data: st.DataObject) -> None:
    """The popup also never gives a number twice or one that was not free."""
    chosen = data.draw(
        st.lists(
            st.tuples(
                st.sampled_from([*inp.users, "nobody"]), st.none() | st.sampled_from(NUMBERS)
            ),
            max_size=8,
        )
    )
    assert_numbers_sound(inp, plan_selection(inp, chosen))


@FAST
@given(worlds())
def test_applying_a_sweep_and_planning_again_writes_nothing(inp: PlanInput) -> None:
    """Idempotence: once a plan is applied to a PBX model, the next plan has no writes."""
    after = apply_plan(inp, plan_sweep(inp))
    again = plan_sweep(after)
    assert not again.writes, again.to_json()


@FAST
@given(worlds())
def test_an_active_in_scope_users_extension_is_never_disabled(inp: PlanInput) -> None:
    """Disables (and held disables) only ever concern users who are not active."""
    for plan in (plan_sweep(inp), plan_round(inp, list(inp.users))):
        for action in (*plan.by_kind(ActionKind.DISABLE), *plan.held):
            assert action.user_id is not None
            assert inp.standing(action.user_id) is not Reason.ACTIVE, action


@FAST
@given(worlds())
def test_disables_never_exceed_the_limit(inp: PlanInput) -> None:
    """At most disable_limit disables in the window (this plan's plus the recent ones); when
    any is held, now or from before, none is applied; nothing already held is held again."""
    for plan in (plan_sweep(inp), plan_round(inp, list(inp.users)), plan_disable_unmatched(inp)):
        disables = plan.by_kind(ActionKind.DISABLE)
        assert plan.disable_limit is not None
        if disables:
            assert len(disables) + inp.recent_disables <= plan.disable_limit
            assert not inp.held_numbers
        assert not (disables and plan.held)
        assert not {a.number for a in (*disables, *plan.held)} & inp.held_numbers
        assert set(plan.withdrawn) <= inp.held_numbers
        if not inp.directory_usable:
            assert not disables and not plan.held


@FAST
@given(worlds())
def test_planning_is_deterministic(inp: PlanInput) -> None:
    """The same input in another order gives an equal plan (and equal JSON)."""
    shuffled = replace(
        inp,
        users=dict(reversed(list(inp.users.items()))),
        extensions=dict(reversed(list(inp.extensions.items()))),
        bindings=tuple(reversed(inp.bindings)),
    )
    assert plan_sweep(shuffled).to_json() == plan_sweep(inp).to_json()
    assert plan_disable_unmatched(shuffled) == plan_disable_unmatched(inp)


@FAST
@given(worlds())
def test_a_round_over_everyone_plans_what_the_sweep_plans(inp: PlanInput) -> None:
    """Rounds and sweeps follow one set of rules."""
    everyone = set(inp.users) | {b.user_id for b in inp.bindings}
    assert plan_round(inp, everyone).actions == plan_sweep(inp).actions


@FAST
@given(policies(), st.sampled_from(["", "100-199,999", "150"]), st.integers(0, 3650))
def test_policy_settings_round_trip(settings_in: dict[str, Any], protected: str, days: int) -> None:
    """Any valid policy survives to_settings -> from_settings unchanged."""
    if settings_in["scope"] == "all":
        settings_in["group_ids"] = []
    policy = Policy.from_settings({**settings_in, "protected": protected, "cooloff_days": days})
    assert Policy.from_settings(policy.to_settings()) == policy
