"""The admin's words: no Vodia field code, reason code or trigger code reaches a page."""

from __future__ import annotations

import time

from admin.selection import action_json, outcomes, preview
from admin.wording import field_label, plain, reason_text, trigger_text
from store.models import DirectoryUser
from worker.applier import ApplyResult
from worker.planner import ActionKind, PlanInput, plan_selection
from worker.planner.policy import Policy


def test_vodia_field_codes_read_as_the_admin_knows_them() -> None:
    assert field_label("display_name") == "Last name"
    assert field_label("cell_dis") == "Cell phone"
    assert field_label("email_address") == "Email"
    assert field_label("first_name") == "First name"
    assert field_label("some_new_field") == "Some new field"
    assert plain("directory changed display_name, cell_dis") == (
        "directory changed Last name, Cell phone"
    )


def test_reasons_and_triggers_in_words() -> None:
    assert reason_text("new_user: new extension 201") == (
        "created for a new Microsoft 365 user: new extension 201"
    )
    assert reason_text("fields_changed: directory changed cell_dis") == (
        "the user's details changed in Microsoft 365: directory changed Cell phone"
    )
    assert reason_text("selected") == "chosen in Sync Users & Create Extensions"
    assert reason_text("no such code: kept") == "no such code: kept"
    assert trigger_text("selection", "admin:admin@pbx.example") == (
        "chosen by admin@pbx.example in Sync Users & Create Extensions"
    )
    assert trigger_text("sweep", "worker") == "in the 12-hour check"
    assert trigger_text("manual", "cli") == "by the command line (Resync now)"
    assert "round" not in trigger_text("notification", "worker")


def _input(phone: str) -> PlanInput:
    user = DirectoryUser(
        id="u1",
        display_name="Ann Lee",
        given_name="Ann",
        surname="Lee",
        mail="ann.lee@contoso.example",
        user_principal_name="ann.lee@contoso.example",
        business_phones=(phone,),
        account_enabled=True,
        user_type="Member",
    )
    policy = Policy(ranges=((200, 209),), phone_region="US")
    return PlanInput(users={"u1": user}, extensions={}, bindings=(), policy=policy, now=time.time())


def test_the_popup_says_cell_phone_not_cell_dis() -> None:
    """A phone kept as written is reported in the popup's preview and its results in words."""
    inp = _input("call reception")
    shown = preview(inp, [("u1", "201")], ["u1"])["results"]["u1"]
    assert "Cell phone: 'call reception' is not a phone number" in shown["message"]
    plan = plan_selection(inp, [("u1", "201")])
    [create] = plan.by_kind(ActionKind.CREATE)
    assert "cell_dis" not in action_json(create)["message"]
    failed = ApplyResult(failed=[(create, "PBX refused cell_dis")])
    [row] = outcomes(plan, failed)
    assert row["outcome"] == "failed" and "cell_dis" not in row["message"]
    assert "Cell phone" in row["message"]
