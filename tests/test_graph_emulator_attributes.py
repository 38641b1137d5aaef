"""Graph emulator: employeeId and onPremisesExtensionAttributes on users and in /users/delta
(Microsoft Learn: resources/user.md, resources/onpremisesextensionattributes.md, user-delta.md)."""

from __future__ import annotations

import aiohttp

from emulators.graph.server import GraphEmulator
from tests.test_graph_emulator_delta import get_json, run_round

ATTRS = "onPremisesExtensionAttributes"
SELECT = f"/v1.0/users/delta?$select=displayName,employeeId,{ATTRS}"


async def test_attributes_come_whole_on_select_and_singly_not_at_all(
    graph_emulator: GraphEmulator, graph_session: aiohttp.ClientSession
) -> None:
    user = graph_emulator.directory.create_user(
        displayName="Ana", userPrincipalName="ana@contoso.example", employeeId="415"
    )
    status, body = await get_json(
        graph_session, f"/v1.0/users/{user['id']}?$select=employeeId,{ATTRS}"
    )
    assert status == 200
    assert body["employeeId"] == "415"
    assert body[ATTRS] == {f"extensionAttribute{i}": None for i in range(1, 16)}
    status, body = await get_json(graph_session, f"/v1.0/users/{user['id']}")
    assert ATTRS not in body and "employeeId" not in body  # returned only on $select
    status, body = await get_json(graph_session, "/v1.0/users?$select=extensionAttribute1")
    assert status == 400 and body["error"]["code"] == "Request_BadRequest"


async def test_patch_merges_the_attributes_and_refuses_bad_ones(
    graph_emulator: GraphEmulator, graph_session: aiohttp.ClientSession
) -> None:
    user = graph_emulator.directory.create_user(
        displayName="Ana", userPrincipalName="ana@contoso.example"
    )
    url = f"/v1.0/users/{user['id']}"
    for patch in ({"extensionAttribute1": "Sales"}, {"extensionAttribute7": "433"}):
        async with graph_session.patch(url, json={ATTRS: patch}) as response:
            assert response.status == 204
    for bad in ({"extensionAttribute16": "1"}, {"extensionAttribute2": 5}, "433"):
        async with graph_session.patch(url, json={ATTRS: bad}) as response:
            assert response.status == 400
    attrs = graph_emulator.directory.get_user(user["id"])[ATTRS]
    assert {k: v for k, v in attrs.items() if v} == {
        "extensionAttribute1": "Sales",
        "extensionAttribute7": "433",
    }


async def test_delta_returns_employee_id_and_the_attributes(
    graph_emulator: GraphEmulator, graph_session: aiohttp.ClientSession
) -> None:
    directory = graph_emulator.directory
    user = directory.create_user(
        displayName="Ana", userPrincipalName="ana@contoso.example", employeeId="415"
    )
    items, delta_link, _ = await run_round(graph_session, SELECT)
    assert items[0]["employeeId"] == "415" and items[0][ATTRS]["extensionAttribute7"] is None
    directory.update_user(user["id"], onPremisesExtensionAttributes={"extensionAttribute7": "433"})
    minimal, delta_link, _ = await run_round(graph_session, delta_link, Prefer="return=minimal")
    assert [set(item) for item in minimal] == [{"id", ATTRS}]
    assert minimal[0][ATTRS]["extensionAttribute7"] == "433"
    assert len(minimal[0][ATTRS]) == 15  # the complex value comes whole
    directory.update_user(user["id"], employeeId="416")
    minimal, _, _ = await run_round(graph_session, delta_link, Prefer="return=minimal")
    assert minimal == [{"id": user["id"], "employeeId": "416"}]
