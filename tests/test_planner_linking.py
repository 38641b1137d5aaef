"""An admin's way out of a conflict: link to an existing extension, re-enable, and the
Disable Unmatched preview's unticked rows (worker/planner/linking.py, unmatched.py)."""

from __future__ import annotations

from store.models import Binding, Extension
from tests.test_planner_selection import make_input, member
from worker.planner import (
    ActionKind,
    ConflictKind,
    Reason,
    link_candidates,
    plan_disable_unmatched,
    plan_link,
    plan_reenable,
)

DAN = member("dan", business_phones=("+14255550104",))
TWO = [
    Extension("250", first_name="D", last_name="W", email="dan@example.com"),
    Extension("251", first_name="Dan", last_name="Test", email="DAN@example.com"),
]


def test_email_conflict_offers_both_unlinked_holders() -> None:
    """Two unlinked extensions with the user's email are both offered; a linked one is not."""
    inp = make_input(
        [DAN, member("eve")],
        [*TWO, Extension("252", email="dan@example.com")],
        [Binding(user_id="eve", number="252")],
    )
    assert link_candidates(inp, "dan") == ("250", "251")
    assert link_candidates(inp, "eve") == ()


def test_link_binds_and_updates_the_chosen_extension() -> None:
    """Link to 250: one bind to 250 with the directory's fields, reason selected."""
    plan = plan_link(make_input([DAN], TWO), "dan", "250")
    (action,) = plan.actions
    assert (action.kind, action.number, action.reason) == (ActionKind.BIND, "250", Reason.SELECTED)
    assert action.change_map()["first_name"] == ("D", "Dan")
    assert action.change_map()["display_name"] == ("W", "Test")
    assert plan.writes == (action,)


def test_link_refuses_a_linked_extension_a_missing_one_and_a_linked_user() -> None:
    """Each refusal writes nothing and says why."""
    inp = make_input([DAN, member("eve")], TWO, [Binding(user_id="eve", number="251")])
    taken = plan_link(inp, "dan", "251").actions[0]
    assert taken.kind is ActionKind.CONFLICT and taken.conflict is ConflictKind.NUMBER
    assert "already linked" in taken.message
    missing = plan_link(inp, "dan", "299").actions[0]
    assert missing.kind is ActionKind.CONFLICT and "not on the PBX" in missing.message
    bound = plan_link(inp, "eve", "250").actions[0]
    assert bound.kind is ActionKind.SKIP and bound.reason is Reason.ALREADY_BOUND
    unknown = plan_link(inp, "nobody", "250").actions[0]
    assert unknown.kind is ActionKind.SKIP and unknown.reason is Reason.UNKNOWN_USER
    for plan in (plan_link(inp, "dan", "251"), plan_link(inp, "eve", "250")):
        assert plan.writes == ()


def test_link_refuses_a_user_who_left() -> None:
    inp = make_input([member("dan", account_enabled=False)], TWO)
    action = plan_link(inp, "dan", "250").actions[0]
    assert action.kind is ActionKind.SKIP and action.reason is Reason.ACCOUNT_DISABLED


def test_link_to_a_disabled_extension_keeps_it_disabled_and_says_so() -> None:
    ext = Extension(
        "250", first_name="Dan", last_name="Test", email="dan@example.com", disabled=True
    )
    (action,) = plan_link(make_input([DAN], [ext]), "dan", "250").actions
    assert action.kind is ActionKind.BIND
    assert any("stays disabled until re-enabled" in n for n in action.notes)


def test_reenable_a_linked_disabled_extension_of_an_active_user() -> None:
    """Re-enable works whoever disabled it (disabled_by_us False: a PBX admin did)."""
    ext = Extension(
        "250", first_name="Dan", last_name="Test", email="dan@example.com", disabled=True
    )
    inp = make_input([DAN], [ext], [Binding(user_id="dan", number="250")])
    (action,) = plan_reenable(inp, "250").actions
    assert (action.kind, action.number, action.user_id) == (ActionKind.ENABLE, "250", "dan")


def test_reenable_refuses_unlinked_enabled_and_leavers() -> None:
    disabled = Extension("250", email="dan@example.com", disabled=True)
    unlinked = make_input([DAN], [disabled])
    assert plan_reenable(unlinked, "250").actions[0].reason is Reason.UNMATCHED
    enabled = make_input([DAN], [TWO[0]], [Binding(user_id="dan", number="250")])
    assert plan_reenable(enabled, "250").actions[0].kind is ActionKind.SKIP
    left = make_input(
        [member("dan", account_enabled=False)], [disabled], [Binding(user_id="dan", number="250")]
    )
    assert plan_reenable(left, "250").actions[0].reason is Reason.ACCOUNT_DISABLED
    assert plan_reenable(unlinked, "299").actions[0].reason is Reason.EXTENSION_MISSING
    for inp in (unlinked, enabled, left):
        assert plan_reenable(inp, "250").writes == ()


def test_disable_unmatched_leaves_out_the_unticked_numbers() -> None:
    """An unticked row is a skip with reason excluded; the others are disabled."""
    exts = [Extension(n, email=f"gone{n}@example.com") for n in ("260", "261", "262")]
    inp = make_input([DAN], exts, disable_threshold_count=10)
    plan = plan_disable_unmatched(inp, exclude={"261"})
    kinds = {a.number: (a.kind, a.reason) for a in plan.actions}
    assert kinds["261"] == (ActionKind.SKIP, Reason.EXCLUDED)
    assert kinds["260"][0] is ActionKind.DISABLE and kinds["262"][0] is ActionKind.DISABLE
