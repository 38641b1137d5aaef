"""End to end (issue 17): a user added to the Entra group "Support" gets an extension in
400-449 with the rule's template and joins the Support hunt group; removed from the group,
the user leaves the hunt group, and is disabled only when out of every scope.

The whole product on loopback: real webhook, queue, rounds, SQLite file, and the Graph and
Vodia emulators on real ports (the hunt group is read and written over Vodia's REST API)."""

from __future__ import annotations

import base64
import time
from typing import Any

import aiohttp

from store.records import list_audit
from tests.plugins.pipeline import MakeStack, Stack, graph_user
from worker import operations
from worker.linkadmin import save_settings

HUNT = "810"
TEMPLATE = {"dial_plan": "intl", "mb_enable": "true", "department": "Support"}


async def _stack(make_stack: MakeStack, **policy: Any) -> tuple[Stack, str]:
    stack = await make_stack(
        graph_options={"app_roles": ("User.Read.All", "GroupMember.Read.All")},
        policy={"auto_create": True, "ranges": "200-299"},
    )
    group_id = stack.directory.groups.create({"displayName": "Support"})["id"]
    stack.pbx_state.add_account(HUNT, "hunts")
    rules = [
        {
            "name": "Support",
            "group_id": group_id,
            "ranges": "400-449",
            "template": TEMPLATE,
            "hunt_group": HUNT,
        }
    ]
    settings = {**stack.link.settings, "group_rules": rules, **policy}
    stack.link = await save_settings(stack.db, stack.link.id, settings)
    await stack.settle()
    return stack, group_id


async def _hunt_agents(stack: Stack) -> list[Any]:
    """What Vodia's GET /rest/domain/{d}/hunts says, over HTTP."""
    info = stack.emus.info
    pair = f"{info['pbx_tenant_admin']}:{info['pbx_tenant_admin_password']}".encode()
    auth = {"Authorization": "Basic " + base64.b64encode(pair).decode()}
    url = f"{info['pbx_url']}/rest/domain/{info['pbx_domain']}/hunts"
    async with aiohttp.ClientSession() as session, session.get(url, headers=auth) as reply:
        assert reply.status == 200
        rows = await reply.json()
    return next(row["agents"] for row in rows if row["name"] == HUNT)


def _ext(stack: Stack, email: str) -> Any:
    (ext,) = [e for e in stack.pbx_state.extensions() if e.settings["email_address"] == email]
    return ext


async def test_joining_support_creates_in_its_range_with_template_and_hunt(
    make_stack: MakeStack,
) -> None:
    stack, group_id = await _stack(make_stack)
    started = time.monotonic()
    ann = stack.directory.create_user(**graph_user("Ann", "Lee"))
    stack.directory.groups.add_member(group_id, ann["id"])
    bo = stack.directory.create_user(**graph_user("Bo", "Kim"))  # in no rule's group
    await stack.drain()
    took = time.monotonic() - started
    print(f"\nsupport join -> extension + hunt member: {took:.2f} s (notification path)")

    ext = _ext(stack, ann["mail"])
    assert 400 <= int(ext.number) <= 449
    assert {k: ext.settings[k] for k in TEMPLATE} == TEMPLATE
    assert _ext(stack, bo["mail"]).number == "200"
    assert _ext(stack, bo["mail"]).settings["dial_plan"] == ""  # no template by default
    assert stack.pbx_state.get(HUNT).settings["st1_ext"] == ext.number
    assert await _hunt_agents(stack) == [int(ext.number)]
    audit = await list_audit(stack.db, stack.link.id)
    assert any(e.action == "hunt" and e.after == {"members": ext.number} for e in audit)

    # Removed from the group: out of the hunt group at the next sweep (or resync); the
    # extension stays enabled since Ann is still in the link's scope (all members).
    stack.directory.groups.remove_member(group_id, ann["id"])
    clients = await stack.engine.clients.get(stack.link)
    started = time.monotonic()
    outcome = await operations.resync(stack.db, clients, sweep=True)
    print(f"support leave -> out of hunt group: {time.monotonic() - started:.2f} s (sweep)")
    assert outcome.hunts is not None and outcome.hunts.changed == [HUNT]
    assert stack.pbx_state.get(HUNT).settings["st1_ext"] == ""
    assert await _hunt_agents(stack) == []
    assert not _ext(stack, ann["mail"]).disabled
    # Not renumbered: the plan says where the rule would put her.
    plan = (await operations.dry_run(stack.db, clients, full=True)).plan
    assert ext.number == _ext(stack, ann["mail"]).number
    assert plan.hunts[0].members == ()


async def test_out_of_every_scope_is_disabled_and_leaves_the_hunt(
    make_stack: MakeStack,
) -> None:
    stack, group_id = await _stack(make_stack)
    stack.link = await save_settings(
        stack.db, stack.link.id, {**stack.link.settings, "scope": "groups", "group_ids": group_id}
    )
    ann = stack.directory.create_user(**graph_user("Ann", "Lee"))
    stack.directory.groups.add_member(group_id, ann["id"])
    await stack.drain()
    ext = _ext(stack, ann["mail"])
    assert stack.pbx_state.get(HUNT).settings["st1_ext"] == ext.number

    stack.directory.groups.remove_member(group_id, ann["id"])
    clients = await stack.engine.clients.get(stack.link)
    await operations.resync(stack.db, clients, sweep=True)
    assert _ext(stack, ann["mail"]).disabled
    assert stack.pbx_state.get(HUNT).settings["st1_ext"] == ""


async def test_sign_in_with_microsoft_is_set_on_the_pbx_and_shown(make_stack: MakeStack) -> None:
    """`ms_signin=on` turns the tenant's `mssign` on (read back over Vodia's REST API),
    `off` turns it off, `keep` leaves an admin's choice alone; the round says the state."""
    stack = await make_stack(policy={"ms_signin": "on"})
    tenant = stack.pbx_state.tenant()
    clients = await stack.engine.clients.get(stack.link)
    outcome = await operations.resync(stack.db, clients, sweep=True)
    assert tenant.settings["mssign"] == "true"
    assert outcome.stats["ms_signin"] == "on"

    stack.link = await save_settings(
        stack.db, stack.link.id, {**stack.link.settings, "ms_signin": "off"}
    )
    clients = await stack.engine.clients.get(stack.link)
    outcome = await operations.resync(stack.db, clients, sweep=True)
    assert tenant.settings["mssign"] == "false"
    assert outcome.stats["ms_signin"] == "off"

    tenant.settings["mssign"] = "true"  # an admin turns it on by hand
    stack.link = await save_settings(
        stack.db, stack.link.id, {**stack.link.settings, "ms_signin": "keep"}
    )
    clients = await stack.engine.clients.get(stack.link)
    outcome = await operations.resync(stack.db, clients, sweep=True)
    assert tenant.settings["mssign"] == "true"
    assert outcome.stats["ms_signin"] == "on"
