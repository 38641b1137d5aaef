"""Graph emulator: /users, deleted items, groups and the Bearer checks, over HTTPS."""

from __future__ import annotations

import aiohttp
import pytest

from emulators.graph.server import GraphEmulator
from emulators.graph.users import DEFAULT_PROPERTIES
from tests.plugins.graph_emulator import fetch_app_token


def assert_graph_error(body: dict[str, object], code: str) -> None:
    error = body["error"]
    assert isinstance(error, dict)
    assert error["code"] == code
    assert error["message"]
    assert {"date", "request-id", "client-request-id"} <= set(error["innerError"])


async def test_list_users_returns_default_properties_only(
    graph_emulator: GraphEmulator, graph_session: aiohttp.ClientSession
) -> None:
    """Without $select a user carries exactly Graph's default properties."""
    graph_emulator.directory.create_user(
        displayName="Ana Silva", userPrincipalName="ana@contoso.example", department="Sales"
    )
    async with graph_session.get("/v1.0/users") as response:
        body = await response.json()
    assert response.status == 200
    assert body["@odata.context"].endswith("/v1.0/$metadata#users")
    (user,) = body["value"]
    assert set(user) == set(DEFAULT_PROPERTIES)
    assert user["businessPhones"] == []
    assert user["mail"] is None


async def test_select_limits_properties_and_adds_id(
    graph_emulator: GraphEmulator, graph_session: aiohttp.ClientSession
) -> None:
    """$select returns the named properties plus id, including non-default ones."""
    graph_emulator.directory.create_user(
        displayName="Ana", userPrincipalName="ana@contoso.example", accountEnabled=False
    )
    async with graph_session.get("/v1.0/users?$select=displayName,accountEnabled") as response:
        (user,) = (await response.json())["value"]
    assert set(user) == {"id", "displayName", "accountEnabled"}
    assert user["accountEnabled"] is False


async def test_select_unknown_property_is_400(graph_session: aiohttp.ClientSession) -> None:
    """Selecting a property the user type lacks is refused with a Graph error."""
    async with graph_session.get("/v1.0/users?$select=shoeSize") as response:
        body = await response.json()
    assert response.status == 400
    assert_graph_error(body, "Request_BadRequest")


@pytest.mark.parametrize("top", ["1000", "0"])
async def test_top_outside_1_to_999_is_refused(
    graph_session: aiohttp.ClientSession, top: str
) -> None:
    """$top above 999 (or below 1) gives Graph's 'Invalid page size' 400."""
    async with graph_session.get(f"/v1.0/users?$top={top}") as response:
        body = await response.json()
    assert response.status == 400
    assert body["error"]["message"] == (
        f"Invalid page size specified: '{top}'. Must be between 1 and 999 inclusive."
    )


async def test_paging_follows_absolute_next_links_with_query_kept(
    graph_emulator: GraphEmulator, graph_session: aiohttp.ClientSession
) -> None:
    """Default page is 100; nextLinks are absolute, keep $select and visit every user once."""
    graph_emulator.directory.seed(250, seed=3)
    async with graph_session.get("/v1.0/users") as response:
        first = await response.json()
    assert len(first["value"]) == 100
    url = "/v1.0/users?$select=mail&$top=120"
    seen: list[str] = []
    pages = 0
    while url:
        async with graph_session.get(url) as response:
            body = await response.json()
        pages += 1
        seen.extend(user["id"] for user in body["value"])
        assert all(set(user) == {"id", "mail"} for user in body["value"])
        url = body.get("@odata.nextLink")
        if url:
            assert url.startswith(graph_emulator.url + "/v1.0/users?")
            assert "$select=mail" in url
            assert "$skiptoken=" in url
    assert pages == 3
    assert sorted(seen) == sorted(set(seen))
    assert len(seen) == 250


async def test_get_user_by_id_and_by_upn(
    graph_emulator: GraphEmulator, graph_session: aiohttp.ClientSession
) -> None:
    """A user is found by id and by userPrincipalName."""
    user = graph_emulator.directory.create_user(
        displayName="Zoë Weiß", userPrincipalName="zoe@contoso.example"
    )
    for key in (user["id"], "ZOE@contoso.example"):
        async with graph_session.get(f"/v1.0/users/{key}") as response:
            body = await response.json()
        assert response.status == 200
        assert body["displayName"] == "Zoë Weiß"


async def test_unknown_user_is_404_resource_not_found(
    graph_session: aiohttp.ClientSession,
) -> None:
    """An unknown id answers 404 Request_ResourceNotFound in Graph's error shape."""
    missing = "6b2ac1f0-0000-4000-8000-000000000000"
    async with graph_session.get(f"/v1.0/users/{missing}") as response:
        body = await response.json()
    assert response.status == 404
    assert_graph_error(body, "Request_ResourceNotFound")
    assert response.headers["request-id"] == body["error"]["innerError"]["request-id"]


async def test_create_update_and_duplicate_upn(
    graph_emulator: GraphEmulator, graph_session: aiohttp.ClientSession
) -> None:
    """POST creates (201), PATCH updates (204), a second user with the same UPN is 400."""
    new_user = {
        "accountEnabled": True,
        "displayName": "Adele Vance",
        "mailNickname": "adelev",
        "userPrincipalName": "adelev@contoso.example",
        "passwordProfile": {"password": "xWwvJ]6NMw+bWH-d"},
    }
    async with graph_session.post("/v1.0/users", json=new_user) as response:
        created = await response.json()
    assert response.status == 201
    assert "passwordProfile" not in created
    user_id = created["id"]
    async with graph_session.patch(f"/v1.0/users/{user_id}", json={"jobTitle": "CEO"}) as response:
        assert response.status == 204
    assert graph_emulator.directory.get_user(user_id)["jobTitle"] == "CEO"
    async with graph_session.post("/v1.0/users", json=new_user) as response:
        body = await response.json()
    assert response.status == 400
    assert "userPrincipalName already exists" in body["error"]["message"]


async def test_patch_rejects_read_only_and_unknown_properties(
    graph_emulator: GraphEmulator, graph_session: aiohttp.ClientSession
) -> None:
    """PATCH of id or of an unknown property is a 400, and nothing changes."""
    user = graph_emulator.directory.create_user(
        displayName="A", userPrincipalName="a@contoso.example"
    )
    for patch in ({"id": "x"}, {"favouriteColour": "red"}, {"accountEnabled": "yes"}):
        async with graph_session.patch(f"/v1.0/users/{user['id']}", json=patch) as response:
            assert response.status == 400
    assert graph_emulator.directory.get_user(user["id"]) == user


async def test_soft_delete_restore_and_hard_delete(
    graph_emulator: GraphEmulator, graph_session: aiohttp.ClientSession
) -> None:
    """DELETE moves a user to deletedItems; restore brings it back; deleting there is final."""
    user_id = graph_emulator.directory.create_user(
        displayName="Lars", userPrincipalName="lars@contoso.example"
    )["id"]
    async with graph_session.delete(f"/v1.0/users/{user_id}") as response:
        assert response.status == 204
    async with graph_session.get(f"/v1.0/users/{user_id}") as response:
        assert response.status == 404
    async with graph_session.get("/v1.0/directory/deletedItems/microsoft.graph.user") as response:
        (deleted,) = (await response.json())["value"]
    assert deleted["id"] == user_id
    assert deleted["deletedDateTime"]
    async with graph_session.get(f"/v1.0/directory/deletedItems/{user_id}") as response:
        assert response.status == 200
    async with graph_session.post(f"/v1.0/directory/deletedItems/{user_id}/restore") as response:
        assert response.status == 200
    async with graph_session.get(f"/v1.0/users/{user_id}") as response:
        assert response.status == 200
    async with graph_session.delete(f"/v1.0/users/{user_id}") as response:
        assert response.status == 204
    async with graph_session.delete(f"/v1.0/directory/deletedItems/{user_id}") as response:
        assert response.status == 204
    async with graph_session.post(f"/v1.0/directory/deletedItems/{user_id}/restore") as response:
        assert response.status == 404
    assert graph_emulator.directory.deleted_ids() == []


async def test_soft_deleted_users_are_purged_after_30_days(
    graph_emulator: GraphEmulator,
) -> None:
    """The recycle bin keeps a user 30 emulated days, then it is gone for good."""
    directory = graph_emulator.directory
    user_id = directory.create_user(displayName="B", userPrincipalName="b@contoso.example")["id"]
    directory.soft_delete_user(user_id)
    graph_emulator.advance_clock(31 * 86400)
    assert directory.deleted_ids() == []
    assert directory.records[user_id].state == "hardDeleted"


async def test_missing_token_is_401(graph_emulator: GraphEmulator) -> None:
    """A call without a Bearer token is 401 InvalidAuthenticationToken."""
    connector = aiohttp.TCPConnector(ssl=graph_emulator.client_ssl_context())
    async with (
        aiohttp.ClientSession(connector=connector) as session,
        session.get(f"{graph_emulator.graph_url}/users") as response,
    ):
        body = await response.json()
    assert response.status == 401
    assert_graph_error(body, "InvalidAuthenticationToken")


async def test_expired_token_is_401(
    graph_emulator: GraphEmulator, graph_session: aiohttp.ClientSession
) -> None:
    """After the emulated clock passes the token's expiry, Graph refuses it."""
    graph_emulator.advance_clock(3700)
    async with graph_session.get("/v1.0/users") as response:
        body = await response.json()
    assert response.status == 401
    assert_graph_error(body, "InvalidAuthenticationToken")
    assert "expired" in body["error"]["message"]


async def test_token_without_consent_is_403(graph_emulator: GraphEmulator) -> None:
    """Without admin consent the app token has no roles: 403 Authorization_RequestDenied."""
    graph_emulator.identity.revoke_admin_consent(graph_emulator.config.tenant.client_id)
    connector = aiohttp.TCPConnector(ssl=graph_emulator.client_ssl_context())
    async with aiohttp.ClientSession(connector=connector) as session:
        token = await fetch_app_token(graph_emulator, session)
        headers = {"Authorization": f"Bearer {token}"}
        async with session.get(f"{graph_emulator.graph_url}/users", headers=headers) as response:
            body = await response.json()
    assert response.status == 403
    assert_graph_error(body, "Authorization_RequestDenied")


async def test_unknown_segment_is_graph_400(graph_session: aiohttp.ClientSession) -> None:
    """An unknown path under /v1.0 answers like Graph, not with aiohttp's text 404."""
    async with graph_session.get("/v1.0/contacts") as response:
        body = await response.json()
    assert response.status == 400
    assert body["error"]["message"] == "Resource not found for the segment 'contacts'."


async def test_count_needs_eventual_consistency(
    graph_emulator: GraphEmulator, graph_session: aiohttp.ClientSession
) -> None:
    """/users/$count is plain text and needs ConsistencyLevel: eventual."""
    graph_emulator.directory.seed(7, seed=1)
    async with graph_session.get("/v1.0/users/$count") as response:
        assert response.status == 400
    headers = {"ConsistencyLevel": "eventual"}
    async with graph_session.get("/v1.0/users/$count", headers=headers) as response:
        assert await response.text() == "7"


async def _filtered(session: aiohttp.ClientSession, query: str, **headers: str) -> list[str]:
    names: list[str] = []
    url: str | None = f"/v1.0/users?$top=2&$select=displayName&$filter={query}"
    while url:
        async with session.get(url, headers=headers) as response:
            body = await response.json()
            assert response.status == 200, body
        names.extend(user["displayName"] for user in body["value"])
        url = body.get("@odata.nextLink")
    return sorted(names)


async def test_filter_supports_eq_in_startswith_and_or(
    graph_emulator: GraphEmulator, graph_session: aiohttp.ClientSession
) -> None:
    """$filter with eq, in, startswith, and/or selects the right users across pages."""
    directory = graph_emulator.directory
    for name, kind, enabled in (
        ("Ana", "Member", True),
        ("Anton", "Member", False),
        ("Bea", "Guest", True),
        ("Ben", "Member", True),
        ("O'Neil", "Member", True),
    ):
        upn = f"{name.lower().replace(chr(39), '')}@contoso.example"
        directory.create_user(
            displayName=name, userPrincipalName=upn, userType=kind, accountEnabled=enabled
        )
    assert await _filtered(graph_session, "userType eq 'guest'") == ["Bea"]
    assert await _filtered(graph_session, "startswith(displayName,'an')") == ["Ana", "Anton"]
    member_a = "startswith(displayName,'A') and accountEnabled eq true or displayName eq 'Ben'"
    assert await _filtered(graph_session, member_a) == ["Ana", "Ben"]
    assert await _filtered(graph_session, "displayName in ('Bea','Ben')") == ["Bea", "Ben"]
    assert await _filtered(graph_session, "displayName eq 'O''Neil'") == ["O'Neil"]


async def test_filter_refusals(graph_session: aiohttp.ClientSession) -> None:
    """ne needs ConsistencyLevel: eventual; unknown properties and bad syntax are 400."""
    async with graph_session.get("/v1.0/users?$filter=userType ne 'Guest'") as response:
        assert (await response.json())["error"]["code"] == "Request_UnsupportedQuery"
    headers = {"ConsistencyLevel": "eventual"}
    async with graph_session.get(
        "/v1.0/users?$filter=userType ne 'Guest'", headers=headers
    ) as response:
        assert response.status == 200
    for bad in ("shoeSize eq 'x'", "displayName eq", "displayName eq 'a' junk"):
        async with graph_session.get(f"/v1.0/users?$filter={bad}") as response:
            assert response.status == 400, bad


async def test_odd_body_keys_are_refused_not_crashing(
    graph_emulator: GraphEmulator, graph_session: aiohttp.ClientSession
) -> None:
    """Body keys that collide with Python parameter names are plain unknown properties (400)."""
    user = graph_emulator.directory.create_user(
        displayName="A", userPrincipalName="a@contoso.example"
    )
    async with graph_session.post("/v1.0/users", json={"self": 1, "displayName": "B"}) as response:
        assert response.status == 400
    async with graph_session.patch(f"/v1.0/users/{user['id']}", json={"user_id": "x"}) as response:
        assert response.status == 400
    group = {"displayName": "G", "group_id": "chosen"}
    async with graph_session.post("/v1.0/groups", json=group) as response:
        assert response.status == 400
    async with graph_session.post("/v1.0/users", json=["not", "an", "object"]) as response:
        assert response.status == 400
