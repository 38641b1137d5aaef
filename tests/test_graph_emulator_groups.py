"""Graph emulator: groups, members `$ref` edits and transitive members."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from emulators.graph.server import GraphEmulator, GraphEmulatorConfig
from tests.plugins.graph_emulator import MakeGraphEmulator, fetch_app_token


@pytest.fixture
def graph_emulator_config(tmp_path: Path) -> GraphEmulatorConfig:
    """An app consented for groups as the docs say (GroupMember.Read.All; the writes
    these tests make are not permission-checked by the emulator)."""
    return GraphEmulatorConfig(
        state_dir=tmp_path / "graph-emulator",
        app_roles=("User.Read.All", "GroupMember.Read.All"),
        allow_http_loopback_notifications=True,
    )


async def _create_group(session: aiohttp.ClientSession, name: str) -> str:
    body = {
        "displayName": name,
        "mailEnabled": False,
        "securityEnabled": True,
        "mailNickname": name,
    }
    async with session.post("/v1.0/groups", json=body) as response:
        assert response.status == 201
        return str((await response.json())["id"])


async def _add(session: aiohttp.ClientSession, group_id: str, member_id: str) -> int:
    ref = {"@odata.id": f"https://graph.microsoft.com/v1.0/directoryObjects/{member_id}"}
    async with session.post(f"/v1.0/groups/{group_id}/members/$ref", json=ref) as response:
        return response.status


async def _ids(session: aiohttp.ClientSession, url: str) -> list[str]:
    ids: list[str] = []
    next_url: str | None = url
    while next_url:
        async with session.get(next_url) as response:
            body = await response.json()
        ids.extend(item["id"] for item in body["value"])
        next_url = body.get("@odata.nextLink")
    return ids


async def test_members_add_list_and_remove(
    graph_emulator: GraphEmulator, graph_session: aiohttp.ClientSession
) -> None:
    """$ref adds (204), a duplicate add is 400, members lists it, DELETE $ref removes it."""
    user = graph_emulator.directory.create_user(
        displayName="U", userPrincipalName="u@contoso.example"
    )
    group_id = await _create_group(graph_session, "Sales")
    assert await _add(graph_session, group_id, user["id"]) == 204
    assert await _add(graph_session, group_id, user["id"]) == 400
    async with graph_session.get(f"/v1.0/groups/{group_id}/members") as response:
        (member,) = (await response.json())["value"]
    assert member["@odata.type"] == "#microsoft.graph.user"
    assert member["id"] == user["id"]
    url = f"/v1.0/groups/{group_id}/members/{user['id']}/$ref"
    async with graph_session.delete(url) as response:
        assert response.status == 204
    async with graph_session.delete(url) as response:
        assert response.status == 404
    assert await _ids(graph_session, f"/v1.0/groups/{group_id}/members") == []


async def test_transitive_members_resolve_nested_groups_and_page(
    graph_emulator: GraphEmulator, graph_session: aiohttp.ClientSession
) -> None:
    """transitiveMembers lists the nested group and its users once each, in pages."""
    users = graph_emulator.directory.seed(30, seed=5).user_ids
    outer = await _create_group(graph_session, "Outer")
    inner = await _create_group(graph_session, "Inner")
    assert await _add(graph_session, outer, inner) == 204
    assert await _add(graph_session, inner, outer) == 204  # a cycle must not loop forever
    for user_id in users[:10]:
        assert await _add(graph_session, outer, user_id) == 204
    for user_id in users[5:30]:
        assert await _add(graph_session, inner, user_id) == 204
    direct = await _ids(graph_session, f"/v1.0/groups/{outer}/members")
    assert len(direct) == 11
    transitive = await _ids(graph_session, f"/v1.0/groups/{outer}/transitiveMembers?$top=7")
    assert sorted(transitive) == sorted([inner, *users])


async def test_soft_deleted_members_are_hidden_until_restored(
    graph_emulator: GraphEmulator, graph_session: aiohttp.ClientSession
) -> None:
    """A soft-deleted user drops out of member lists and comes back on restore."""
    directory = graph_emulator.directory
    user_id = directory.create_user(displayName="U", userPrincipalName="u@contoso.example")["id"]
    group_id = await _create_group(graph_session, "G")
    assert await _add(graph_session, group_id, user_id) == 204
    directory.soft_delete_user(user_id)
    assert await _ids(graph_session, f"/v1.0/groups/{group_id}/members") == []
    directory.restore_user(user_id)
    assert await _ids(graph_session, f"/v1.0/groups/{group_id}/members") == [user_id]


async def test_seeded_groups_include_a_nested_one(graph_emulator: GraphEmulator) -> None:
    """Seeding makes the standard groups with 'Sales EMEA' nested in 'Sales'."""
    result = graph_emulator.directory.seed(200, seed=2)
    groups = graph_emulator.directory.groups
    sales = result.group_ids["Sales"]
    assert result.group_ids["Sales EMEA"] in groups.direct_members(sales)
    assert len(groups.transitive_members(result.group_ids["All Staff"])) == 200


async def test_group_reads_need_group_member_read_all(
    make_graph_emulator: MakeGraphEmulator,
) -> None:
    """An app consented only User.Read.All gets 403 Authorization_RequestDenied on groups
    and members, as Graph answers; granting GroupMember.Read.All (new tokens) fixes it."""
    emulator = await make_graph_emulator(seed_users=2)
    groups = emulator.directory.groups
    group_id = groups.create({"displayName": "Sales", "mailNickname": "sales"})["id"]
    paths = [
        "/v1.0/groups",
        f"/v1.0/groups/{group_id}",
        f"/v1.0/groups/{group_id}/members",
        f"/v1.0/groups/{group_id}/transitiveMembers",
    ]
    connector = aiohttp.TCPConnector(ssl=emulator.client_ssl_context())
    async with aiohttp.ClientSession(base_url=emulator.url, connector=connector) as session:
        token = await fetch_app_token(emulator, session)
        for path in paths:
            async with session.get(path, headers={"Authorization": f"Bearer {token}"}) as r:
                body = await r.json()
                assert (r.status, body["error"]["code"]) == (403, "Authorization_RequestDenied")
        async with session.get(
            "/v1.0/users", headers={"Authorization": f"Bearer {token}"}
        ) as response:
            assert response.status == 200
        emulator.identity.set_app_roles(
            emulator.config.tenant.client_id, ("User.Read.All", "GroupMember.Read.All")
        )
        token = await fetch_app_token(emulator, session)
        for path in paths:
            async with session.get(path, headers={"Authorization": f"Bearer {token}"}) as r:
                assert r.status == 200, path
