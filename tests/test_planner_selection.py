"""The "Sync Users & Create Extensions" popup (plan_selection) and "Disable Unmatched"."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from store.models import Binding, DirectoryUser, Extension, Removal
from worker.planner import (
    Action,
    ActionKind,
    ConflictKind,
    PlanInput,
    Policy,
    Reason,
    plan_disable_unmatched,
    plan_selection,
)

NOW = 1_800_000_000.0


def member(uid: str, **kw: Any) -> DirectoryUser:
    kw.setdefault("mail", f"{uid}@example.com")
    return DirectoryUser(id=uid, given_name=uid.title(), surname="Test", **kw)


def make_input(
    users: Sequence[DirectoryUser],
    extensions: Sequence[Extension] = (),
    bindings: Sequence[Binding] = (),
    **settings: Any,
) -> PlanInput:
    extra = {k: settings.pop(k) for k in ("released", "directory_complete") if k in settings}
    settings.setdefault("ranges", "200-209")
    return PlanInput(
        users={u.id: u for u in users},
        extensions={e.number: e for e in extensions},
        bindings=tuple(bindings),
        policy=Policy.from_settings(settings),
        now=NOW,
        **extra,
    )


def by_user(actions: Sequence[Action]) -> dict[str | None, Action]:
    return {a.user_id: a for a in actions}


PEOPLE = [member(n) for n in ("ann", "bob", "cid", "dee")]


def test_auto_assign_gives_sequential_free_numbers_in_chosen_order() -> None:
    """Users without a requested number get the lowest free numbers, in the admin's order."""
    inp = make_input(PEOPLE, [Extension("201", email="other@example.com")])
    plan = plan_selection(inp, [("cid", None), ("ann", None), ("bob", "")])
    numbers = {a.user_id: a.number for a in plan.actions}
    assert numbers == {"cid": "200", "ann": "202", "bob": "203"}
    assert {a.reason for a in plan.actions} == {Reason.SELECTED}


def test_selection_creates_even_when_auto_create_is_off() -> None:
    """The popup is the manual path: auto_create does not matter."""
    plan = plan_selection(make_input(PEOPLE, auto_create=False), [("ann", None)])
    assert plan.by_kind(ActionKind.CREATE)[0].number == "200"


def test_requested_numbers_are_honoured_and_skipped_by_auto_assign() -> None:
    """A valid requested number is used; auto-assign does not hand it out again."""
    plan = plan_selection(make_input(PEOPLE), [("ann", None), ("bob", "200")])
    assert {a.user_id: a.number for a in plan.actions} == {"bob": "200", "ann": "201"}


def test_number_in_use_is_a_number_conflict_with_the_next_free_suggested() -> None:
    """The Vodia manual's number conflict: the number is taken, the next free one suggested."""
    inp = make_input(PEOPLE, [Extension("203"), Extension("204")])
    conflict = plan_selection(inp, [("ann", "203")]).actions[0]
    assert (conflict.kind, conflict.conflict) == (ActionKind.CONFLICT, ConflictKind.NUMBER)
    assert conflict.number == "203"
    assert conflict.suggested_number == "205"
    assert "in use" in conflict.message and "205" in conflict.message


def test_suggestions_do_not_collide_with_assigned_numbers() -> None:
    """The suggestion is free after the batch's own assignments."""
    inp = make_input(PEOPLE, [Extension("200")])
    plan = by_user(plan_selection(inp, [("ann", "200"), ("bob", None)]).actions)
    assert plan["bob"].number == "201"
    assert plan["ann"].suggested_number == "202"


def test_same_number_for_two_users_is_a_duplicate_selection_conflict() -> None:
    """The Vodia manual's duplicate selection: both users flagged, different suggestions."""
    plan = plan_selection(make_input(PEOPLE), [("ann", "205"), ("bob", "205"), ("cid", None)])
    actions = by_user(plan.actions)
    assert actions["ann"].conflict is ConflictKind.DUPLICATE_SELECTION
    assert actions["bob"].conflict is ConflictKind.DUPLICATE_SELECTION
    assert actions["cid"].number == "200"
    suggestions = {actions["ann"].suggested_number, actions["bob"].suggested_number}
    assert suggestions == {"206", "207"}
    assert plan.writes == (actions["cid"],)


def test_email_already_on_another_users_extension_is_an_email_conflict() -> None:
    """The Vodia manual's email conflict: shown, nothing written."""
    inp = make_input(
        [*PEOPLE, member("old", mail="ann@example.com")],
        [Extension("209", email="ANN@example.com")],
        [Binding("old", "209")],
    )
    conflict = plan_selection(inp, [("ann", None)]).actions[0]
    assert conflict.conflict is ConflictKind.EMAIL
    assert "extension 209" in conflict.message


def test_email_on_a_free_extension_links_the_user_to_it() -> None:
    """A chosen user whose email is on one unlinked extension is bound to it, not duplicated."""
    inp = make_input(PEOPLE, [Extension("207", first_name="A", email="ann@example.com")])
    action = plan_selection(inp, [("ann", None)]).actions[0]
    assert (action.kind, action.number) == (ActionKind.BIND, "207")
    clash = plan_selection(inp, [("ann", "201")]).actions[0]
    assert clash.conflict is ConflictKind.EMAIL
    assert "choose that number" in clash.message


def test_two_chosen_users_with_one_email_conflict() -> None:
    """Two chosen users sharing an address are both email conflicts."""
    users = [member("ann", mail="desk@example.com"), member("bob", mail="Desk@example.com")]
    plan = plan_selection(make_input(users), [("ann", None), ("bob", None)])
    assert [a.conflict for a in plan.actions] == [ConflictKind.EMAIL, ConflictKind.EMAIL]


def test_requested_numbers_outside_range_reserved_or_cooling_are_refused() -> None:
    """Each bad requested number is a number conflict saying why."""
    inp = make_input(PEOPLE, reserved="204", released={"205": NOW - 86400.0})
    plan = by_user(
        plan_selection(
            inp, [("ann", "300"), ("bob", "204"), ("cid", "205"), ("dee", "02x")]
        ).actions
    )
    assert "outside" in plan["ann"].message
    assert "reserved" in plan["bob"].message
    assert "cooling off for 29 more day(s)" in plan["cid"].message
    assert "not an extension number" in plan["dee"].message
    assert {a.conflict for a in plan.values()} == {ConflictKind.NUMBER}


def test_full_range_is_a_range_full_conflict() -> None:
    """No free number left: range_full, not a number outside the range."""
    inp = make_input(PEOPLE, [Extension("200"), Extension("201")], ranges="200-201")
    action = plan_selection(inp, [("ann", None)]).actions[0]
    assert action.conflict is ConflictKind.RANGE_FULL


def test_user_without_email_is_a_no_email_conflict() -> None:
    """A chosen user with neither mail nor UPN cannot get an extension."""
    action = plan_selection(make_input([member("ann", mail=None)]), [("ann", None)]).actions[0]
    assert action.conflict is ConflictKind.NO_EMAIL


def test_bound_gone_and_unknown_users_are_skipped() -> None:
    """Already linked, deleted and unknown users are skipped with their reasons."""
    users = [member("ann"), member("bob", removed=Removal.HARD)]
    inp = make_input(users, [Extension("200", email="ann@example.com")], [Binding("ann", "200")])
    plan = by_user(plan_selection(inp, [("ann", None), ("bob", None), ("zed", None)]).actions)
    assert plan["ann"].reason is Reason.ALREADY_BOUND
    assert plan["bob"].reason is Reason.HARD_DELETED
    assert plan["zed"].reason is Reason.UNKNOWN_USER


# Disable Unmatched Extensions


def unmatched_input(**settings: Any) -> PlanInput:
    return make_input(
        [member("ann"), member("gone", removed=Removal.HARD)],
        [
            Extension("200", email="ann@example.com"),
            Extension("201", email="gone@example.com"),
            Extension("202", email="stranger@example.com"),
            Extension("203", email=""),
            Extension("150", email="lobby@example.com"),
            Extension("204", email="off@example.com", disabled=True),
            Extension("205", email="bob@example.com"),
        ],
        [Binding("bob", "205")],
        protected="100-199",
        **settings,
    )


def test_disable_unmatched_disables_unbound_extensions_nobody_matches() -> None:
    """Only unbound, enabled, unprotected extensions with an unknown email are disabled."""
    plan = plan_disable_unmatched(unmatched_input())
    assert [a.number for a in plan.by_kind(ActionKind.DISABLE)] == ["201", "202"]
    assert [(a.number, a.reason) for a in plan.by_kind(ActionKind.SKIP)] == [
        ("150", Reason.PROTECTED)
    ]
    assert plan.unmatched == ("150", "201", "202")


def test_extensions_without_email_count_only_when_opted_in() -> None:
    """unmatched_without_email=true adds extensions with no email."""
    plan = plan_disable_unmatched(unmatched_input(unmatched_without_email=True))
    assert "203" in [a.number for a in plan.by_kind(ActionKind.DISABLE)]


def test_disable_unmatched_is_braked_and_never_runs_on_a_failed_read() -> None:
    """Over the limit every disable is held; a failed directory read disables nothing."""
    held = plan_disable_unmatched(unmatched_input(disable_threshold_count=1))
    assert len(held.held) == 2 and not held.writes
    failed = plan_disable_unmatched(unmatched_input(directory_complete=False))
    assert not failed.writes
    assert Reason.DIRECTORY_INCOMPLETE in {a.reason for a in failed.actions}
