"""The rules of the planner (DESIGN.md), one example each, through plan_round and plan_sweep."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import pytest

from store.models import Binding, DirectoryUser, Extension, Removal
from worker.planner import (
    Action,
    ActionKind,
    ConflictKind,
    Plan,
    PlanInput,
    Policy,
    Reason,
    plan_round,
    plan_sweep,
)
from worker.planner.phones import already_e164

NOW = 1_800_000_000.0
DAY_S = 86400.0


def member(uid: str, first: str = "Ann", last: str = "Smith", **kw: Any) -> DirectoryUser:
    kw.setdefault("mail", f"{uid}@example.com")
    kw.setdefault("user_principal_name", f"{uid}@example.com")
    kw.setdefault("account_enabled", True)
    kw.setdefault("user_type", "Member")
    return DirectoryUser(id=uid, given_name=first, surname=last, **kw)


def ext(
    number: str, email: str = "", first: str = "Ann", last: str = "Smith", **kw: Any
) -> Extension:
    return Extension(number=number, first_name=first, last_name=last, email=email, **kw)


def make_input(
    users: list[DirectoryUser],
    extensions: Sequence[Extension] = (),
    bindings: Sequence[Binding] = (),
    **settings: Any,
) -> PlanInput:
    extra = {
        k: settings.pop(k)
        for k in ("in_scope_ids", "released", "directory_complete")
        if k in settings
    }
    settings.setdefault("auto_create", True)
    settings.setdefault("ranges", "200-299")
    return PlanInput(
        users={u.id: u for u in users},
        extensions={e.number: e for e in extensions},
        bindings=tuple(bindings),
        policy=Policy.from_settings(settings),
        now=NOW,
        **extra,
    )


def only(plan: Plan, kind: ActionKind | None = None) -> Action:
    actions = plan.by_kind(kind) if kind else plan.actions
    assert len(actions) == 1, plan.to_json()
    return actions[0]


# matching and numbering


def test_new_member_gets_the_lowest_free_number() -> None:
    """In use, reserved, cooling-off and bound-but-missing numbers are all skipped."""
    inp = make_input(
        [member("u1"), member("u9")],
        [ext("200", "x@example.com")],
        [Binding("u9", "201")],
        reserved="202",
        released={"203": NOW - 5 * DAY_S, "204": NOW - 31 * DAY_S},
    )
    action = only(plan_round(inp, ["u1"]))
    assert (action.kind, action.number, action.reason) == (
        ActionKind.CREATE,
        "204",
        Reason.NEW_USER,
    )
    assert action.new_values() == {
        "first_name": "Ann",
        "display_name": "Smith",
        "email_address": "u1@example.com",
    }


def test_several_new_users_get_sequential_numbers() -> None:
    """New users are numbered in order, each number given once."""
    inp = make_input([member("u1"), member("u2"), member("u3")], [ext("201", "x@example.com")])
    plan = plan_sweep(inp)
    assert sorted(a.number or "" for a in plan.by_kind(ActionKind.CREATE)) == ["200", "202", "203"]


def test_full_range_is_a_conflict_never_a_number_outside() -> None:
    """When the range has no free number the user gets a range_full conflict."""
    inp = make_input([member("u1")], [ext("200"), ext("201")], ranges="200-201")
    action = only(plan_round(inp, ["u1"]))
    assert action.kind is ActionKind.CONFLICT
    assert action.conflict is ConflictKind.RANGE_FULL
    assert action.number is None
    assert "200-201" in action.message


def test_without_auto_create_new_users_are_skipped() -> None:
    """Auto-create off: a user without an extension is skipped with the reason."""
    inp = make_input([member("u1")], auto_create=False)
    action = only(plan_round(inp, ["u1"]))
    assert (action.kind, action.reason) == (ActionKind.SKIP, Reason.AUTO_CREATE_OFF)


def test_user_binds_to_the_extension_with_the_same_email() -> None:
    """An uppercase, padded email still matches: the user is bound, not given a new number."""
    user = member("u1", mail="  Ann.Smith@EXAMPLE.com ")
    inp = make_input([user], [ext("250", "ann.smith@example.com", first="Anne")])
    action = only(plan_round(inp, ["u1"]))
    assert (action.kind, action.number) == (ActionKind.BIND, "250")
    assert action.email == "ann.smith@example.com"
    assert action.change_map() == {"first_name": ("Anne", "Ann")}


def test_email_on_two_extensions_is_an_email_conflict() -> None:
    """Two extensions with the user's email: conflict naming both, nothing written."""
    inp = make_input([member("u1")], [ext("210", "u1@example.com"), ext("211", "U1@example.com")])
    action = only(plan_round(inp, ["u1"]))
    assert action.conflict is ConflictKind.EMAIL
    assert "extension 210" in action.message and "extension 211" in action.message
    assert not plan_round(inp, ["u1"]).writes


def test_email_on_an_extension_bound_to_someone_else_is_a_conflict() -> None:
    """The Vodia manual's email conflict: the address is already another user's extension."""
    inp = make_input(
        [member("u1"), member("u2", mail="u1@example.com")],
        [ext("210", "u1@example.com")],
        [Binding("u1", "210")],
    )
    action = only(plan_round(inp, ["u2"]))
    assert action.conflict is ConflictKind.EMAIL
    assert "linked to user u1" in action.message


def test_two_new_users_sharing_an_email_both_conflict() -> None:
    """Neither of two directory users with one address gets an extension."""
    inp = make_input([member("u1", mail="desk@example.com"), member("u2", mail="desk@example.com")])
    plan = plan_sweep(inp)
    assert [a.conflict for a in plan.actions] == [ConflictKind.EMAIL, ConflictKind.EMAIL]


def test_no_mail_but_upn_uses_the_upn() -> None:
    """A user without mail is matched and created by the user principal name."""
    user = member("u1", mail=None, user_principal_name="Ann@Contoso.com")
    action = only(plan_round(make_input([user]), ["u1"]))
    assert action.kind is ActionKind.CREATE
    assert action.email == "ann@contoso.com"


def test_no_usable_email_is_a_no_email_conflict_with_auto_create() -> None:
    """email_source=mail and no mail: a no_email conflict (auto-create) or a skip (off)."""
    user = member("u1", mail=None)
    on = only(plan_round(make_input([user], email_source="mail"), ["u1"]))
    assert on.conflict is ConflictKind.NO_EMAIL
    off = only(plan_round(make_input([user], email_source="mail", auto_create=False), ["u1"]))
    assert (off.kind, off.reason) == (ActionKind.SKIP, Reason.NO_EMAIL)


# scope


def test_guest_is_skipped_unless_guests_are_included() -> None:
    """A guest gets nothing by default and an extension when the policy includes guests."""
    guest = member("g1", user_type="Guest", mail="g@partner.example")
    skipped = only(plan_round(make_input([guest]), ["g1"]))
    assert (skipped.kind, skipped.reason) == (ActionKind.SKIP, Reason.GUEST)
    created = only(plan_round(make_input([guest], include_guests=True), ["g1"]))
    assert created.kind is ActionKind.CREATE


def test_guest_upn_is_not_an_email() -> None:
    """A guest's #EXT# user principal name is not used as an email address."""
    guest = member(
        "g1",
        user_type="Guest",
        mail=None,
        user_principal_name="ann_partner.example#EXT#@contoso.onmicrosoft.com",
    )
    action = only(plan_round(make_input([guest], include_guests=True), ["g1"]))
    assert action.conflict is ConflictKind.NO_EMAIL


def test_group_scope_creates_only_members_of_the_groups() -> None:
    """With scope=groups a user outside in_scope_ids is skipped as out of scope."""
    settings: dict[str, Any] = {"scope": "groups", "group_ids": ["g-1"]}
    inp = make_input([member("u1"), member("u2")], in_scope_ids=frozenset({"u1"}), **settings)
    plan = plan_sweep(inp)
    assert only(plan, ActionKind.CREATE).user_id == "u1"
    assert only(plan, ActionKind.SKIP).reason is Reason.OUT_OF_SCOPE


def test_group_membership_ids_match_case_insensitively() -> None:
    """A member id in upper case in the group read still counts as in scope."""
    settings: dict[str, Any] = {"scope": "groups", "group_ids": ["g-1"]}
    users = [member("5d2f-ab"), member("77aa-cd")]
    inp = make_input(users, in_scope_ids=frozenset({"5D2F-AB", "77aa-cd"}), **settings)
    assert len(plan_sweep(inp).by_kind(ActionKind.CREATE)) == 2


def test_unknown_group_membership_creates_and_disables_nobody() -> None:
    """scope=groups with in_scope_ids=None (group read failed): no create, no disable."""
    settings: dict[str, Any] = {"scope": "groups", "group_ids": ["g-1"]}
    inp = make_input(
        [member("u1"), member("u2")],
        [ext("200", "u2@example.com")],
        [Binding("u2", "200")],
        **settings,
    )
    plan = plan_sweep(inp)
    assert not plan.writes
    assert {a.reason for a in plan.actions} == {Reason.SCOPE_UNKNOWN}


# updates


def test_bound_user_gets_only_the_changed_fields() -> None:
    """A changed surname and phone are sent; the unchanged first name and email are not."""
    user = member("u1", last="Jones", business_phones=("+1 425 555 0100",))
    inp = make_input([user], [ext("200", "u1@example.com", cell="")], [Binding("u1", "200")])
    action = only(plan_round(inp, ["u1"]))
    assert action.kind is ActionKind.UPDATE
    assert action.change_map() == {
        "display_name": ("Smith", "Jones"),
        "cell_dis": ("", "+14255550100"),
    }


def test_diacritics_are_kept_and_compared_composed() -> None:
    """'José Núñez' decomposed in the directory equals the composed name on the PBX."""
    first, last = "José", "Núñez"
    user = member(
        "u1", first=unicodedata.normalize("NFD", first), last=unicodedata.normalize("NFD", last)
    )
    in_sync = make_input(
        [user], [ext("200", "u1@example.com", first=first, last=last)], [Binding("u1", "200")]
    )
    assert not plan_round(in_sync, ["u1"]).actions
    created = only(plan_round(make_input([user]), ["u1"]))
    assert created.new_values()["first_name"] == "José"
    assert created.new_values()["display_name"] == "Núñez"


def test_uppercase_email_is_not_an_update() -> None:
    """Email differing only in case and spaces is the same address: no update."""
    user = member("u1", mail="U1@Example.COM")
    inp = make_input([user], [ext("200", " u1@example.com")], [Binding("u1", "200")])
    assert not plan_round(inp, ["u1"]).actions


def test_email_change_renames_the_extension_not_a_new_one() -> None:
    """The Graph id is the anchor: a new address updates email_address on the same number."""
    user = member("u1", mail="ann.jones@example.com")
    inp = make_input([user], [ext("200", "ann.smith@example.com")], [Binding("u1", "200")])
    action = only(plan_round(inp, ["u1"]))
    assert (action.kind, action.number) == (ActionKind.UPDATE, "200")
    assert action.change_map() == {
        "email_address": ("ann.smith@example.com", "ann.jones@example.com")
    }


def test_email_change_to_an_address_in_use_is_a_conflict_other_fields_still_update() -> None:
    """A rename onto another extension's address is refused; the name change goes through."""
    user = member("u1", first="Annie", mail="desk@example.com")
    inp = make_input(
        [user],
        [ext("200", "u1@example.com"), ext("201", "desk@example.com")],
        [Binding("u1", "200")],
    )
    plan = plan_round(inp, ["u1"])
    assert only(plan, ActionKind.CONFLICT).conflict is ConflictKind.EMAIL
    assert only(plan, ActionKind.UPDATE).change_map() == {"first_name": ("Ann", "Annie")}


def test_two_users_swapping_addresses_both_update() -> None:
    """Renames that free each other's address are not conflicts."""
    users = [member("u1", mail="b@example.com"), member("u2", mail="a@example.com")]
    inp = make_input(
        users,
        [ext("200", "a@example.com"), ext("201", "b@example.com")],
        [Binding("u1", "200"), Binding("u2", "201")],
    )
    plan = plan_sweep(inp)
    assert [a.kind for a in plan.actions] == [ActionKind.UPDATE, ActionKind.UPDATE]


def test_a_freed_address_can_go_to_a_new_user_in_the_same_plan() -> None:
    """u1 renames away from a@; the new user with a@ is created, not in conflict."""
    users = [member("u1", mail="b@example.com"), member("u2", mail="a@example.com")]
    inp = make_input(users, [ext("200", "a@example.com")], [Binding("u1", "200")])
    plan = plan_sweep(inp)
    assert only(plan, ActionKind.CREATE).user_id == "u2"
    assert only(plan, ActionKind.UPDATE).user_id == "u1"


def test_missing_surname_splits_the_display_name() -> None:
    """No givenName/surname: 'Mary Ann Lee' becomes first 'Mary Ann', last 'Lee'."""
    user = member("u1", first="", last="", display_name="  Mary Ann   Lee ")
    values = only(plan_round(make_input([user]), ["u1"])).new_values()
    assert (values["first_name"], values["display_name"]) == ("Mary Ann", "Lee")


@pytest.mark.parametrize(
    ("phones", "mobile", "region", "cell", "reported"),
    [
        (("+1 425 555 0100",), None, "US", "+14255550100", False),
        (("(425) 555-0101",), None, "US", "+14255550101", False),
        (("0049 30 1234567",), None, "US", "+49301234567", False),
        (("030 1234567",), None, "DE", "+49301234567", False),
        ((), "+44 20 7946 0958", "US", "+442079460958", False),
        (("", "  "), None, "US", "", False),
        (("call reception",), None, "US", "call reception", True),
        (("12",), None, "US", "12", True),
    ],
)
def test_phones_in_mixed_formats_become_e164(
    phones: tuple[str, ...], mobile: str | None, region: str, cell: str, reported: bool
) -> None:
    """Business phone, else mobile, in E.164; junk is kept as written and reported."""
    user = member("u1", business_phones=phones, mobile_phone=mobile)
    inp = make_input(
        [user],
        [ext("200", "u1@example.com", cell="old")],
        [Binding("u1", "200")],
        phone_region=region,
    )
    action = only(plan_round(inp, ["u1"]))
    assert action.change_map() == {"cell_dis": ("old", cell)}
    assert bool(action.notes) is reported
    if reported:
        assert "kept as written" in action.notes[0]


@pytest.mark.parametrize(
    ("raw", "current", "same"),
    [
        ("+1 425 555 0100", "+14255550100", True),
        ("+39 06 1234 5678", "+390612345678", True),
        ("+44 (0)20 7946 0958", "+4402079460958", False),
        ("(425) 555-0100", "+14255550100", False),
        ("+1 425 555 0100", "+1 425 555 0100", False),
        ("+1", "+1", False),
    ],
)
def test_a_cell_already_in_e164_is_recognised_without_parsing(
    raw: str, current: str, same: bool
) -> None:
    """Only separators may differ; a trunk zero or a national format still needs parsing."""
    assert already_e164(raw, current) is same


def test_a_bound_users_unchanged_international_number_is_not_rewritten() -> None:
    """'+1 425 555 0100' in the directory and '+14255550100' on the PBX: no update."""
    user = member("u1", business_phones=("+1 425 555 0100",))
    inp = make_input(
        [user], [ext("200", "u1@example.com", cell="+14255550100")], [Binding("u1", "200")]
    )
    assert not plan_round(inp, ["u1"]).actions


def test_phone_source_none_leaves_the_cell_alone() -> None:
    """phone_source=none never writes cell_dis."""
    user = member("u1", business_phones=("+1 425 555 0100",))
    inp = make_input(
        [user],
        [ext("200", "u1@example.com", cell="+1999")],
        [Binding("u1", "200")],
        phone_source="none",
    )
    assert not plan_round(inp, ["u1"]).actions


# leaving and returning


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"removed": Removal.SOFT}, Reason.SOFT_DELETED),
        ({"removed": Removal.HARD}, Reason.HARD_DELETED),
        ({"account_enabled": False}, Reason.ACCOUNT_DISABLED),
        ({"user_type": "Guest"}, Reason.GUEST),
    ],
)
def test_a_leaving_user_has_the_extension_disabled(change: dict[str, Any], reason: Reason) -> None:
    """Deleted, soft-deleted, disabled or out-of-scope users: disable (never delete)."""
    user = replace(member("u1"), **change)
    inp = make_input([user, member("u2")], [ext("200", "u1@example.com")], [Binding("u1", "200")])
    action = only(plan_round(inp, ["u1"]))
    assert (action.kind, action.number, action.reason) == (ActionKind.DISABLE, "200", reason)
    assert plan_sweep(inp).left == ("u1",)


def test_leaving_the_groups_disables() -> None:
    """A bound user no longer in the chosen groups is disabled as out of scope."""
    inp = make_input(
        [member("u1"), member("u2")],
        [ext("200", "u1@example.com")],
        [Binding("u1", "200")],
        scope="groups",
        group_ids=["g-1"],
        in_scope_ids=frozenset({"u2"}),
    )
    action = only(plan_round(inp, ["u1"]))
    assert (action.kind, action.reason) == (ActionKind.DISABLE, Reason.OUT_OF_SCOPE)


def test_policy_can_keep_extensions_of_disabled_accounts() -> None:
    """disable_on_account_disabled=false: the extension stays, with a skip saying why."""
    user = member("u1", account_enabled=False)
    inp = make_input(
        [user, member("u2")],
        [ext("200", "u1@example.com")],
        [Binding("u1", "200")],
        disable_on_account_disabled=False,
    )
    action = only(plan_round(inp, ["u1"]))
    assert (action.kind, action.reason) == (ActionKind.SKIP, Reason.KEPT_BY_POLICY)


def test_an_already_disabled_extension_is_left_alone() -> None:
    """Disabling is idempotent: nothing is planned for a disabled extension."""
    user = member("u1", removed=Removal.HARD)
    inp = make_input(
        [user, member("u2")],
        [ext("200", "u1@example.com", disabled=True)],
        [Binding("u1", "200", disabled_by_us=True)],
    )
    assert not plan_round(inp, ["u1"]).actions


def test_restored_user_is_re_enabled_on_the_same_number() -> None:
    """Restored from deleted items: enable the same extension and repair drifted fields."""
    user = member("u1", first="Annie")  # restored: removed is None again
    inp = make_input(
        [user],
        [ext("207", "u1@example.com", disabled=True)],
        [Binding("u1", "207", disabled_by_us=True)],
    )
    action = only(plan_round(inp, ["u1"]))
    assert (action.kind, action.number, action.reason) == (
        ActionKind.ENABLE,
        "207",
        Reason.RETURNED,
    )
    assert action.change_map() == {"first_name": ("Ann", "Annie")}
    assert not plan_round(inp, ["u1"]).by_kind(ActionKind.CREATE)


def test_extension_disabled_by_an_admin_is_not_enabled() -> None:
    """Only extensions this link disabled come back on their own."""
    inp = make_input(
        [member("u1")],
        [ext("200", "u1@example.com", disabled=True)],
        [Binding("u1", "200", disabled_by_us=False)],
    )
    assert not plan_round(inp, ["u1"]).actions


def test_bound_extension_gone_from_the_pbx_is_recreated_with_its_number() -> None:
    """A binding whose extension vanished: re-create that number (auto-create on)."""
    inp = make_input([member("u1")], [], [Binding("u1", "205")])
    action = only(plan_round(inp, ["u1"]))
    assert (action.kind, action.number, action.reason) == (
        ActionKind.CREATE,
        "205",
        Reason.EXTENSION_MISSING,
    )


# brakes


def test_disables_over_the_count_threshold_are_all_held() -> None:
    """11 leavers of 20 bound (limit max(10, 20% of 20) = 10): every disable is held."""
    users = [member(f"u{i:02d}", removed=Removal.HARD if i < 11 else None) for i in range(20)]
    exts = [ext(str(200 + i), f"u{i:02d}@example.com") for i in range(20)]
    binds = [Binding(f"u{i:02d}", str(200 + i)) for i in range(20)]
    plan = plan_sweep(make_input(users, exts, binds))
    assert plan.disable_limit == 10
    assert not plan.by_kind(ActionKind.DISABLE)
    assert len(plan.held) == 11
    held = plan.held[0]
    assert held.held_kind is ActionKind.DISABLE
    assert "limit of 10" in held.message
    assert held.release().kind is ActionKind.DISABLE


def test_disables_within_the_percentage_threshold_are_applied() -> None:
    """15 leavers of 100 bound (limit max(10, 20) = 20): all 15 are disabled."""
    users = [member(f"u{i:03d}", removed=Removal.SOFT if i < 15 else None) for i in range(100)]
    exts = [ext(str(200 + i), f"u{i:03d}@example.com") for i in range(100)]
    binds = [Binding(f"u{i:03d}", str(200 + i)) for i in range(100)]
    plan = plan_sweep(make_input(users, exts, binds, ranges="200-399"))
    assert plan.disable_limit == 20
    assert len(plan.by_kind(ActionKind.DISABLE)) == 15
    assert not plan.held


def test_failed_directory_read_never_disables() -> None:
    """directory_complete=False turns would-be disables into skips."""
    inp = make_input(
        [member("u1", removed=Removal.HARD), member("u2")],
        [ext("200", "u1@example.com")],
        [Binding("u1", "200")],
        directory_complete=False,
    )
    action = only(plan_round(inp, ["u1"]))
    assert (action.kind, action.reason) == (ActionKind.SKIP, Reason.DIRECTORY_INCOMPLETE)


def test_empty_directory_with_bindings_never_disables() -> None:
    """Everyone gone at once (or nobody read) while bindings exist: nothing is disabled."""
    inp = make_input(
        [member("u1", removed=Removal.HARD)], [ext("200", "u1@example.com")], [Binding("u1", "200")]
    )
    assert not plan_sweep(inp).writes


# rounds and sweeps


def test_a_round_plans_only_the_changed_users() -> None:
    """Users not named in the round are not looked at."""
    inp = make_input([member("u1"), member("u2")])
    plan = plan_round(inp, ["u2", "u2"])
    assert [a.user_id for a in plan.actions] == ["u2"]


def test_a_round_for_an_unknown_user_skips_it() -> None:
    """A notified id with no directory record is skipped, not guessed at."""
    action = only(plan_round(make_input([]), ["ghost"]))
    assert (action.kind, action.reason) == (ActionKind.SKIP, Reason.UNKNOWN_USER)


def test_a_removed_user_without_an_extension_needs_nothing() -> None:
    """A deleted user who never had an extension produces no action."""
    assert not plan_round(make_input([member("u1", removed=Removal.HARD)]), ["u1"]).actions


def test_sweep_reports_unmatched_extensions_and_leavers() -> None:
    """Plan.unmatched lists unbound extensions nobody's email matches; Plan.left the leavers."""
    inp = make_input(
        [member("u1", removed=Removal.SOFT), member("u2")],
        [ext("200", "u1@example.com"), ext("201", "old@example.com"), ext("202", "")],
        [Binding("u1", "200")],
        protected="999",
    )
    plan = plan_sweep(inp)
    assert plan.unmatched == ("201",)
    assert plan.left == ("u1",)


def test_planning_is_deterministic_whatever_the_input_order() -> None:
    """Shuffled mappings give the identical plan, actions sorted by kind then number."""
    users = [member(f"u{i}") for i in range(6)] + [member("gone", removed=Removal.HARD)]
    exts = [ext("210", "gone@example.com"), ext("205", "u3@example.com")]
    binds = [Binding("gone", "210")]
    one = plan_sweep(make_input(users, exts, binds))
    two = plan_sweep(make_input(users[::-1], exts[::-1], binds))
    assert one == two
    assert [a.kind for a in one.actions] == sorted(
        (a.kind for a in one.actions), key=list(ActionKind).index
    )
