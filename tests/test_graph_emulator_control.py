"""Graph emulator: the control API (faults, clock, seeding, state, identity switches),
the directory console, and the switch that turns them off."""

from __future__ import annotations

import time
from typing import Any

import aiohttp
import pytest

from emulators.graph.server import GraphEmulator
from tests.plugins.graph_emulator import MakeGraphEmulator

FAULTS = "/_emulator/faults"


async def add_fault(session: aiohttp.ClientSession, **rule: Any) -> None:
    async with session.post(FAULTS, json=rule) as response:
        assert response.status == 201, await response.text()


@pytest.mark.parametrize(
    ("status", "code"),
    [(429, "TooManyRequests"), (503, "serviceNotAvailable"), (504, "GatewayTimeout")],
)
async def test_injected_status_uses_graph_error_body(
    graph_session: aiohttp.ClientSession, status: int, code: str
) -> None:
    """An injected status answers with Graph's error JSON (and Retry-After when asked), once."""
    await add_fault(graph_session, path="^/v1.0/users$", status=status, retry_after=7, count=1)
    async with graph_session.get("/v1.0/users") as response:
        body = await response.json()
        assert response.status == status
        assert response.headers["Retry-After"] == "7"
    assert body["error"]["code"] == code
    assert "request-id" in body["error"]["innerError"]
    async with graph_session.get("/v1.0/users") as response:
        assert response.status == 200


async def test_injected_reset_drops_the_connection(graph_session: aiohttp.ClientSession) -> None:
    """A reset fault closes the connection without an answer."""
    # Two resets: aiohttp silently retries once when a reused connection drops.
    await add_fault(graph_session, path="/v1.0/users", kind="reset", count=2)
    with pytest.raises(aiohttp.ClientConnectionError):
        async with graph_session.get("/v1.0/users") as response:
            await response.read()


async def test_injected_latency_delays_the_answer(graph_session: aiohttp.ClientSession) -> None:
    """A latency fault delays the real answer by the given time."""
    await add_fault(graph_session, path="/v1.0/users", kind="latency", latency_s=0.3)
    started = time.monotonic()
    async with graph_session.get("/v1.0/users") as response:
        assert response.status == 200
    assert time.monotonic() - started >= 0.3


async def test_faults_list_and_clear(graph_session: aiohttp.ClientSession) -> None:
    """Rules can be listed and cleared; the control API itself is never faulted."""
    await add_fault(graph_session, path=".*", status=503, count=-1)
    async with graph_session.get(FAULTS) as response:
        assert [rule["status"] for rule in await response.json()] == [503]
    async with graph_session.delete(FAULTS) as response:
        assert response.status == 204
    async with graph_session.get("/v1.0/users") as response:
        assert response.status == 200


async def test_configured_latency_applies_to_graph_calls(
    make_graph_emulator: MakeGraphEmulator,
) -> None:
    """latency_s in the config delays every Graph call."""
    emulator = await make_graph_emulator(latency_s=0.2)
    connector = aiohttp.TCPConnector(ssl=emulator.client_ssl_context())
    async with aiohttp.ClientSession(connector=connector) as session:
        started = time.monotonic()
        async with session.get(f"{emulator.graph_url}/users") as response:
            assert response.status == 401
    assert time.monotonic() - started >= 0.2


async def test_clock_advance_expires_tokens(
    graph_emulator: GraphEmulator, graph_session: aiohttp.ClientSession
) -> None:
    """POST /_emulator/clock/advance moves the emulated clock: the access token expires."""
    async with graph_session.post("/_emulator/clock/advance", json={"seconds": 4000}) as response:
        assert (await response.json())["offset_s"] == 4000
    assert graph_emulator.clock.offset_s == 4000
    async with graph_session.get("/v1.0/users") as response:
        assert response.status == 401


async def test_identity_control_routes_are_mounted(graph_session: aiohttp.ClientSession) -> None:
    """Refresh-token revocation and consent switches are reachable under /_emulator/identity."""
    async with graph_session.post("/_emulator/identity/revoke") as response:
        assert response.status == 200
        assert "revoked" in await response.json()
    async with graph_session.post(
        "/_emulator/identity/consent", json={"granted": False}
    ) as response:
        assert (await response.json())["consented_clients"] == []


async def test_seed_is_deterministic_and_realistic(make_graph_emulator: MakeGraphEmulator) -> None:
    """The same seed gives the same users; they include diacritics, guests, disabled
    accounts, mixed phone formats and mails in the tenant domain."""
    first = await make_graph_emulator()
    second = await make_graph_emulator()
    connector = aiohttp.TCPConnector(ssl=first.client_ssl_context())
    seed_url = f"{first.url}/_emulator/seed"
    async with (
        aiohttp.ClientSession(connector=connector) as session,
        session.post(seed_url, json={"users": 300, "seed": 7}) as response,
    ):
        assert (await response.json())["created"] == 300
    second.directory.seed(300, seed=7)
    users = [first.directory.get_user(uid) for uid in first.directory.active_ids()]
    assert [u["id"] for u in users] == second.directory.active_ids()
    domain = first.config.tenant.domain
    members = [u for u in users if u["userType"] == "Member"]
    guests = [u for u in users if u["userType"] == "Guest"]
    assert all(u["mail"].endswith("@" + domain) for u in members)
    assert guests and all("#EXT#@" in u["userPrincipalName"] for u in guests)
    assert all(not u["mail"].endswith("@" + domain) for u in guests)
    assert any(not u["accountEnabled"] for u in users)
    assert any(not u["displayName"].isascii() for u in users)
    phones = [u["businessPhones"][0] if u["businessPhones"] else "" for u in users]
    assert any(p.startswith("+1 425 555 ") for p in phones)
    assert any(p.startswith("(425) 555-") for p in phones)
    assert any(p.startswith("0049 ") for p in phones)
    assert "" in phones
    assert any(p and not any(ch.isdigit() for ch in p) for p in phones)  # junk


async def test_state_dump(
    graph_emulator: GraphEmulator, graph_session: aiohttp.ClientSession
) -> None:
    """GET /_emulator/state dumps users, groups, subscriptions, delivery and switches."""
    graph_emulator.directory.seed(3, seed=1)
    async with graph_session.get("/_emulator/state") as response:
        state = await response.json()
    assert state["user_count"] == 3
    assert len(state["users"]) == 3
    assert {g["displayName"] for g in state["groups"]} >= {"Sales", "Sales EMEA"}
    assert set(state["delivery"]["counters"]) >= {"delivered", "retried", "dropped", "throttled"}
    assert state["identity"]["tenant_id"] == graph_emulator.config.tenant.tenant_id


async def test_control_api_and_console_refused_when_disabled(
    make_graph_emulator: MakeGraphEmulator,
) -> None:
    """With control_enabled off, /_emulator/… and /console answer 404."""
    emulator = await make_graph_emulator(control_enabled=False)
    connector = aiohttp.TCPConnector(ssl=emulator.client_ssl_context())
    async with aiohttp.ClientSession(connector=connector) as session:
        for method, path in (
            ("POST", "/_emulator/seed"),
            ("GET", "/_emulator/state"),
            ("POST", "/_emulator/faults"),
            ("GET", "/console"),
            ("GET", "/_emulator/console/users"),
        ):
            async with session.request(method, f"{emulator.url}{path}") as response:
                assert response.status == 404, path
    assert "console_url" not in emulator.info()


async def test_console_page_is_self_contained_and_escapes(
    graph_emulator: GraphEmulator, graph_session: aiohttp.ClientSession
) -> None:
    """The console is one HTML page with no external resources that never uses innerHTML."""
    async with graph_session.get("/console") as response:
        html = await response.text()
        assert response.content_type == "text/html"
        assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    assert "innerHTML" not in html
    assert "http://" not in html
    assert "https://" not in html
    assert "textContent" in html


async def test_console_endpoints_edit_the_directory(
    graph_emulator: GraphEmulator, graph_session: aiohttp.ClientSession
) -> None:
    """The console's JSON endpoints add, search, edit, delete, restore and purge users."""
    base = "/_emulator/console"
    new = {"displayName": "<script>alert(1)</script>", "userPrincipalName": "x@contoso.example"}
    async with graph_session.post(f"{base}/users", json=new) as response:
        created = await response.json()
    assert response.status == 201
    user_id = created["id"]
    async with graph_session.get(f"{base}/users?search=script") as response:
        listed = await response.json()
    assert listed["total"] == 1
    assert listed["users"][0]["displayName"] == "<script>alert(1)</script>"
    async with graph_session.patch(f"{base}/users/{user_id}", json={"jobTitle": "QA"}) as response:
        assert (await response.json())["jobTitle"] == "QA"
    async with graph_session.post(f"{base}/users", json=new) as response:
        assert response.status == 400
        assert "already exists" in (await response.json())["error"]["message"]
    async with graph_session.delete(f"{base}/users/{user_id}") as response:
        assert response.status == 204
    async with graph_session.get(f"{base}/deleted") as response:
        assert [u["id"] for u in (await response.json())["users"]] == [user_id]
    async with graph_session.post(f"{base}/deleted/{user_id}/restore") as response:
        assert response.status == 200
    async with graph_session.delete(f"{base}/users/{user_id}") as response:
        assert response.status == 204
    async with graph_session.delete(f"{base}/deleted/{user_id}") as response:
        assert response.status == 204
    assert graph_emulator.directory.records[user_id].state == "hardDeleted"


async def test_info_describes_the_running_emulator(graph_emulator: GraphEmulator) -> None:
    """info() names the URLs, tenant, app credentials and CA path for emulator.json."""
    info = graph_emulator.info()
    assert info["url"].startswith("https://127.0.0.1:")
    assert info["graph_url"] == info["url"] + "/v1.0"
    assert info["authority"].endswith(graph_emulator.config.tenant.tenant_id)
    assert info["ca_path"].endswith("ca.pem")
    assert info["client_secret"] == graph_emulator.config.tenant.client_secret
