"""Graph emulator: /users/delta rounds, tokens, removals, expiry and 410 Gone."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from emulators.graph.server import GraphEmulator
from tests.plugins.graph_emulator import fetch_app_token

SELECT = "/v1.0/users/delta?$select=displayName,jobTitle,mail"


async def get_json(
    session: aiohttp.ClientSession, url: str, **headers: str
) -> tuple[int, dict[str, Any]]:
    async with session.get(url, headers=headers) as response:
        return response.status, await response.json()


async def run_round(
    session: aiohttp.ClientSession, url: str, **headers: str
) -> tuple[list[dict[str, Any]], str, int]:
    """Follow nextLinks to the deltaLink: (items, deltaLink, pages)."""
    items: list[dict[str, Any]] = []
    pages = 0
    while True:
        status, body = await get_json(session, url, **headers)
        assert status == 200, body
        pages += 1
        items.extend(body["value"])
        if "@odata.deltaLink" in body:
            return items, body["@odata.deltaLink"], pages
        url = body["@odata.nextLink"]


@pytest.mark.parametrize("path", ["/v1.0/users/delta", "/v1.0/users/microsoft.graph.delta"])
async def test_full_round_pages_every_user_once(
    graph_emulator: GraphEmulator, graph_session: aiohttp.ClientSession, path: str
) -> None:
    """A first round pages through all users (about 200 a page) and ends with a deltaLink."""
    graph_emulator.directory.seed(450, seed=4)
    items, delta_link, pages = await run_round(graph_session, path)
    assert pages == 3
    assert len({item["id"] for item in items}) == 450 == len(items)
    assert delta_link.startswith(f"{graph_emulator.url}{path}?$deltatoken=")


async def test_maxpagesize_preference_is_honoured(
    graph_emulator: GraphEmulator, graph_session: aiohttp.ClientSession
) -> None:
    """Prefer: odata.maxpagesize=N sets the page size and is echoed as applied."""
    graph_emulator.directory.seed(25, seed=4)
    async with graph_session.get(
        "/v1.0/users/delta", headers={"Prefer": "odata.maxpagesize=10"}
    ) as response:
        body = await response.json()
    assert len(body["value"]) == 10
    assert response.headers["Preference-Applied"] == "odata.maxpagesize=10"
    items, _, pages = await run_round(
        graph_session, "/v1.0/users/delta", Prefer="odata.maxpagesize=10"
    )
    assert (len(items), pages) == (25, 3)


async def test_select_is_baked_into_tokens(
    graph_emulator: GraphEmulator, graph_session: aiohttp.ClientSession
) -> None:
    """$select on the first request shapes later rounds; never-set properties are left out."""
    directory = graph_emulator.directory
    user = directory.create_user(displayName="Ana", userPrincipalName="ana@contoso.example")
    items, delta_link, _ = await run_round(graph_session, SELECT)
    assert items == [{"id": user["id"], "displayName": "Ana"}]
    directory.update_user(user["id"], jobTitle="Agent")
    items, _, _ = await run_round(graph_session, delta_link)
    assert items == [{"id": user["id"], "displayName": "Ana", "jobTitle": "Agent"}]


async def test_unselected_change_does_not_surface(
    graph_emulator: GraphEmulator, graph_session: aiohttp.ClientSession
) -> None:
    """A change to a property outside $select does not put the user in the next round."""
    directory = graph_emulator.directory
    user = directory.create_user(displayName="Ana", userPrincipalName="ana@contoso.example")
    _, delta_link, _ = await run_round(graph_session, SELECT)
    directory.update_user(user["id"], department="Finance")
    items, _, _ = await run_round(graph_session, delta_link)
    assert items == []


async def test_return_minimal_gives_only_changed_properties(
    graph_emulator: GraphEmulator, graph_session: aiohttp.ClientSession
) -> None:
    """With Prefer: return=minimal an update carries id plus the changed properties (null kept)."""
    directory = graph_emulator.directory
    user = directory.create_user(
        displayName="Ana", userPrincipalName="ana@contoso.example", mail="ana@contoso.example"
    )
    _, delta_link, _ = await run_round(graph_session, SELECT)
    directory.update_user(user["id"], jobTitle="Agent", mail=None)
    minimal, _, _ = await run_round(graph_session, delta_link, Prefer="return=minimal")
    assert minimal == [{"id": user["id"], "jobTitle": "Agent", "mail": None}]
    full, _, _ = await run_round(graph_session, delta_link)
    assert full == [{"id": user["id"], "displayName": "Ana", "jobTitle": "Agent", "mail": None}]


async def test_soft_delete_restore_and_hard_delete_in_delta(
    graph_emulator: GraphEmulator, graph_session: aiohttp.ClientSession
) -> None:
    """Soft delete → @removed changed; restore → plain entry; hard delete → @removed deleted."""
    directory = graph_emulator.directory
    user_id = directory.create_user(displayName="Ana", userPrincipalName="ana@contoso.example")[
        "id"
    ]
    _, link, _ = await run_round(graph_session, SELECT)

    directory.soft_delete_user(user_id)
    items, link, _ = await run_round(graph_session, link)
    assert items == [{"id": user_id, "@removed": {"reason": "changed"}}]

    directory.restore_user(user_id)
    items, link, _ = await run_round(graph_session, link, Prefer="return=minimal")
    assert items == [{"id": user_id, "displayName": "Ana"}]

    directory.soft_delete_user(user_id)
    directory.hard_delete_user(user_id)
    items, link, _ = await run_round(graph_session, link)
    assert items == [{"id": user_id, "@removed": {"reason": "deleted"}}]

    items, _, _ = await run_round(graph_session, "/v1.0/users/delta")
    assert items == []  # a fresh full round lists only users that exist


async def test_created_user_appears_whole_in_next_round(
    graph_emulator: GraphEmulator, graph_session: aiohttp.ClientSession
) -> None:
    """A user created after the deltaLink comes back with all its selected properties."""
    _, link, _ = await run_round(graph_session, SELECT)
    user = graph_emulator.directory.create_user(
        displayName="New", userPrincipalName="new@contoso.example", jobTitle="Intern"
    )
    items, _, _ = await run_round(graph_session, link, Prefer="return=minimal")
    assert items == [{"id": user["id"], "displayName": "New", "jobTitle": "Intern"}]


async def test_changes_during_a_round_wait_for_the_next(
    graph_emulator: GraphEmulator, graph_session: aiohttp.ClientSession
) -> None:
    """A user changed mid-round is not lost: it shows up in the following round."""
    users = graph_emulator.directory.seed(300, seed=9).user_ids
    status, first = await get_json(graph_session, "/v1.0/users/delta")
    assert status == 200
    seen_first_page = {item["id"] for item in first["value"]}
    changed = next(uid for uid in users if uid in seen_first_page)
    graph_emulator.directory.update_user(changed, displayName="Renamed")
    rest, link, _ = await run_round(graph_session, first["@odata.nextLink"])
    assert changed not in {item["id"] for item in rest}
    items, _, _ = await run_round(graph_session, link)
    assert [(i["id"], i["displayName"]) for i in items] == [(changed, "Renamed")]


async def test_deltatoken_latest_returns_only_a_link(
    graph_emulator: GraphEmulator, graph_session: aiohttp.ClientSession
) -> None:
    """$deltatoken=latest gives no users, and a link that reports only later changes."""
    directory = graph_emulator.directory
    directory.seed(20, seed=1)
    status, body = await get_json(graph_session, "/v1.0/users/delta?$deltatoken=latest")
    assert status == 200
    assert body["value"] == []
    later = directory.create_user(displayName="Later", userPrincipalName="l@contoso.example")
    items, _, _ = await run_round(graph_session, body["@odata.deltaLink"])
    assert [item["id"] for item in items] == [later["id"]]


async def test_token_expires_after_seven_emulated_days(
    graph_emulator: GraphEmulator, graph_session: aiohttp.ClientSession
) -> None:
    """A deltaLink older than 7 days is 400 syncStateNotFound with the devblog message."""
    _, link, _ = await run_round(graph_session, "/v1.0/users/delta")
    graph_emulator.advance_clock(7 * 86400 + 60)
    fresh = await fetch_app_token(graph_emulator, graph_session)
    status, body = await get_json(graph_session, link, Authorization=f"Bearer {fresh}")
    assert status == 400
    assert body["error"]["code"] == "syncStateNotFound"
    assert body["error"]["message"].startswith("The sync state generation is not found.")


async def test_expire_all_tokens_on_demand(
    graph_emulator: GraphEmulator, graph_session: aiohttp.ClientSession
) -> None:
    """The control API can expire every delta token at once; a new full round still works."""
    status, first = await get_json(graph_session, "/v1.0/users/delta?$deltatoken=latest")
    async with graph_session.post("/_emulator/delta/expire") as response:
        assert response.status == 200
    status, body = await get_json(graph_session, first["@odata.deltaLink"])
    assert (status, body["error"]["code"]) == (400, "syncStateNotFound")
    items, _, _ = await run_round(graph_session, "/v1.0/users/delta")
    assert items == []


async def test_tampered_token_is_refused(graph_session: aiohttp.ClientSession) -> None:
    """A token that was not issued by the emulator is refused as unknown sync state."""
    status, body = await get_json(graph_session, "/v1.0/users/delta?$deltatoken=abc.def")
    assert (status, body["error"]["code"]) == (400, "syncStateNotFound")


async def test_armed_410_answers_next_delta_call_with_location(
    graph_emulator: GraphEmulator, graph_session: aiohttp.ClientSession
) -> None:
    """An armed 410 Gone carries a Location with the initial URL and an empty $deltatoken."""
    _, link, _ = await run_round(graph_session, SELECT)
    async with graph_session.post("/_emulator/delta/gone", json={"count": 1}) as response:
        assert response.status == 200
    async with graph_session.get(link) as response:
        body = await response.json()
        location = response.headers["Location"]
    assert response.status == 410
    assert body["error"]["code"] == "resyncRequired"
    assert location.startswith(f"{graph_emulator.url}/v1.0/users/delta?")
    assert location.endswith("$deltatoken=")
    assert "$select=displayName,jobTitle,mail" in location
    graph_emulator.directory.create_user(displayName="A", userPrincipalName="a@contoso.example")
    items, _, _ = await run_round(graph_session, location)
    assert set(items[0]) == {"id", "displayName"}


async def test_filter_is_refused_on_delta(graph_session: aiohttp.ClientSession) -> None:
    """Delta refuses a $filter on anything but ids with Request_UnsupportedQuery."""
    status, body = await get_json(graph_session, "/v1.0/users/delta?$filter=userType eq 'Member'")
    assert (status, body["error"]["code"]) == (400, "Request_UnsupportedQuery")


async def test_id_filter_limits_the_round_to_those_users(
    graph_emulator: GraphEmulator, graph_session: aiohttp.ClientSession
) -> None:
    """$filter=id eq '…' or id eq '…' tracks only the named users, in this and later rounds."""
    users = graph_emulator.directory.seed(30, seed=8).user_ids
    wanted = users[3:5]
    query = " or ".join(f"id eq '{user_id}'" for user_id in wanted)
    items, link, _ = await run_round(graph_session, f"/v1.0/users/delta?$filter={query}")
    assert sorted(item["id"] for item in items) == sorted(wanted)
    for user_id in users[2:6]:
        graph_emulator.directory.update_user(user_id, jobTitle="Changed")
    items, _, _ = await run_round(graph_session, link)
    assert sorted(item["id"] for item in items) == sorted(wanted)


async def test_replication_lag_delays_changes_in_delta(
    graph_emulator: GraphEmulator, graph_session: aiohttp.ClientSession
) -> None:
    """With replication lag set, a fresh change is missing from delta until the lag passed."""
    _, link, _ = await run_round(graph_session, SELECT)
    async with graph_session.post("/_emulator/lag", json={"seconds": 60}) as response:
        assert response.status == 200
    user = graph_emulator.directory.create_user(
        displayName="Late", userPrincipalName="late@contoso.example"
    )
    items, same_link, _ = await run_round(graph_session, link)
    assert items == []
    graph_emulator.advance_clock(61)
    items, _, _ = await run_round(graph_session, same_link)
    assert [item["id"] for item in items] == [user["id"]]


async def test_skip_token_expires_with_page_token_lifetime(
    graph_emulator: GraphEmulator, graph_session: aiohttp.ClientSession
) -> None:
    """With page_token_lifetime_s set, a nextLink older than that is 400
    Directory_ExpiredPageToken; a deltaLink of the same age is still good."""
    graph_emulator.context.delta_tokens.page_lifetime_s = 60.0
    graph_emulator.directory.seed(5, seed=4)
    prefer = {"Prefer": "odata.maxpagesize=2"}
    status, first = await get_json(graph_session, "/v1.0/users/delta", **prefer)
    assert status == 200
    graph_emulator.advance_clock(61)
    status, body = await get_json(graph_session, first["@odata.nextLink"], **prefer)
    assert (status, body["error"]["code"]) == (400, "Directory_ExpiredPageToken")
    _, delta_link, _ = await run_round(graph_session, "/v1.0/users/delta")
    graph_emulator.advance_clock(61)
    status, _body = await get_json(graph_session, delta_link)
    assert status == 200


async def test_touch_notifies_but_the_delta_shows_nothing(
    graph_emulator: GraphEmulator, graph_session: aiohttp.ClientSession
) -> None:
    """A change to an unmodelled property (touch, also via the control API) notifies
    `updated`; no delta round shows the user, whatever its $select."""
    graph_emulator.directory.seed(3, seed=4)
    user_id = graph_emulator.directory.active_ids()[0]
    _, delta_link, _ = await run_round(graph_session, SELECT)
    notified: list[tuple[str, str]] = []
    graph_emulator.directory.listeners.append(lambda uid, kind: notified.append((uid, kind)))
    graph_emulator.directory.touch_user(user_id)
    async with graph_session.post(f"/_emulator/users/{user_id}/touch") as response:
        assert response.status == 202
    async with graph_session.post("/_emulator/users/nobody/touch") as response:
        assert response.status == 404
    assert notified == [(user_id, "updated")] * 2
    items, _, _ = await run_round(graph_session, delta_link)
    assert items == []
