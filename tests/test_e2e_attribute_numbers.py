"""End to end (issue 17): a group rule takes the extension number from the directory's
employeeId or an extensionAttributeN, and the "Sync Users & Create Extensions" popup numbers
users by their group rule as rounds do.

The whole product on loopback: real webhook, queue, rounds, SQLite file, and the Graph and
Vodia emulators on real ports (the attributes travel in Graph's /users/delta)."""

from __future__ import annotations

from typing import Any

from admin import selection
from store.directory import get_directory_users
from store.models import Link
from tests.plugins.pipeline import MakeStack, Stack, graph_user
from worker import operations
from worker.linkadmin import save_settings
from worker.planner import ActionKind


async def _stack(make_stack: MakeStack, rule: dict[str, Any]) -> tuple[Stack, str]:
    stack = await make_stack(
        graph_options={"app_roles": ("User.Read.All", "GroupMember.Read.All")},
        policy={"auto_create": True, "ranges": "200-299"},
    )
    group_id = stack.directory.groups.create({"displayName": "Support"})["id"]
    rules = [{"name": "Support", "group_id": group_id, "ranges": "400-449", **rule}]
    stack.link = await _save(stack, {"group_rules": rules})
    await stack.settle()
    return stack, group_id


async def _save(stack: Stack, settings: dict[str, Any]) -> Link:
    return await save_settings(stack.db, stack.link.id, {**stack.link.settings, **settings})


def _number_of(stack: Stack, email: str) -> str | None:
    found = [e.number for e in stack.pbx_state.extensions() if e.settings["email_address"] == email]
    return found[0] if found else None


async def test_employee_id_415_in_support_gets_extension_415(make_stack: MakeStack) -> None:
    stack, group_id = await _stack(make_stack, {"number_from": "employeeId"})
    ann = stack.directory.create_user(**graph_user("Ann", "Lee", employeeId="415"))
    stack.directory.groups.add_member(group_id, ann["id"])
    await stack.drain()
    assert _number_of(stack, ann["mail"]) == "415"
    # The same id again, one out of range and one not a number: shown, never written.
    bo = stack.directory.create_user(**graph_user("Bo", "Kim", employeeId="415"))
    cy = stack.directory.create_user(**graph_user("Cy", "Ray", employeeId="E0470"))
    di = stack.directory.create_user(**graph_user("Di", "Fox", employeeId="470"))
    for user in (bo, cy, di):
        stack.directory.groups.add_member(group_id, user["id"])
    await stack.drain()

    assert _number_of(stack, ann["mail"]) == "415"
    assert [_number_of(stack, u["mail"]) for u in (bo, cy, di)] == [None, None, None]
    stored = await get_directory_users(stack.db, stack.link.id, [ann["id"]])
    assert stored[ann["id"]].employee_id == "415"
    clients = await stack.engine.clients.get(stack.link)
    plan = (await operations.dry_run(stack.db, clients, full=True)).plan
    messages = {a.user_id: a.message for a in plan.by_kind(ActionKind.CONFLICT)}
    assert messages[bo["id"]] == "415 from employeeId is in use on the PBX"
    assert messages[cy["id"]] == "employeeId 'E0470' is not a number (rule Support)"
    assert messages[di["id"]] == "470 from employeeId is outside 400-449 (rule Support)"


async def test_extension_attribute_number_arrives_by_delta_and_follows_a_change(
    make_stack: MakeStack,
) -> None:
    stack, group_id = await _stack(make_stack, {"number_from": "extensionAttribute7"})
    ann = stack.directory.create_user(**graph_user("Ann", "Lee"))
    stack.directory.groups.add_member(group_id, ann["id"])
    await stack.drain()
    # No attribute yet: a conflict, nothing created.
    assert _number_of(stack, ann["mail"]) is None

    # The admin fills in extensionAttribute7 (a PATCH of the complex property keeps the
    # other attributes): the next round's delta carries it and the extension is created.
    stack.directory.update_user(
        ann["id"], onPremisesExtensionAttributes={"extensionAttribute1": "Sales"}
    )
    stack.directory.update_user(
        ann["id"], onPremisesExtensionAttributes={"extensionAttribute7": " 433 "}
    )
    await stack.drain()
    assert _number_of(stack, ann["mail"]) == "433"
    stored = (await get_directory_users(stack.db, stack.link.id, [ann["id"]]))[ann["id"]]
    assert stored.extension_attributes == (
        ("extensionAttribute1", "Sales"),
        ("extensionAttribute7", "433"),
    )


async def test_popup_numbers_users_by_their_group_rule(make_stack: MakeStack) -> None:
    stack, group_id = await _stack(make_stack, {})
    stack.link = await _save(stack, {"auto_create": False})
    ann = stack.directory.create_user(**graph_user("Ann", "Lee"))
    stack.directory.groups.add_member(group_id, ann["id"])
    bo = stack.directory.create_user(**graph_user("Bo", "Kim"))  # in no rule's group
    await stack.drain()
    assert _number_of(stack, ann["mail"]) is None  # auto-create is off: the popup creates

    clients = await stack.engine.clients.get(stack.link)
    inp = await operations.snapshot(stack.db, clients)
    assert selection.auto_assign(inp, [ann["id"], bo["id"]]) == {
        ann["id"]: "400",
        bo["id"]: "200",
    }
    # A number the admin types is checked against the user's rule.
    shown = selection.preview(inp, [(ann["id"], "250")], [ann["id"]])["results"][ann["id"]]
    assert shown["conflict"] == "number"
    assert shown["message"].startswith(
        "250 is outside the Extension number ranges of rule Support (400-449); suggested: 400"
    )

    applied = await operations.create_selected(
        stack.db, clients, [(ann["id"], None), (bo["id"], None)], actor="admin:test"
    )
    assert not applied.plan.by_kind(ActionKind.CONFLICT)
    assert _number_of(stack, ann["mail"]) == "400"
    assert _number_of(stack, bo["mail"]) == "200"
    (ann_create,) = [a for a in applied.plan.writes if a.user_id == ann["id"]]
    assert ann_create.rule == "Support"
