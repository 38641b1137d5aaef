"""The PBX emulator's control API, faults, latency, seeding and speed."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiohttp
import pytest

from emulators.pbx import PbxEmulator
from emulators.pbx.seed import seed_extensions
from emulators.pbx.state import PbxState
from emulators.tls import create_test_ca
from tests.plugins.pbx_emulator import MakePbx, admin_headers


async def test_control_api_is_404_when_disabled(
    make_pbx: MakePbx, plain_http: aiohttp.ClientSession
) -> None:
    """With control_enabled=False, /_emulator/ paths do not exist."""
    pbx = await make_pbx(control_enabled=False)
    async with plain_http.get(f"{pbx.url}/_emulator/state") as response:
        assert response.status == 404


async def test_status_fault_fires_count_times(
    pbx: PbxEmulator, plain_http: aiohttp.ClientSession
) -> None:
    """A 503 fault with count 2 answers 503 twice with Retry-After and JSON, then recovers."""
    rule = {"path": "/settings$", "kind": "status", "status": 503, "count": 2, "retry_after": 1}
    async with plain_http.post(f"{pbx.control_url}faults", json=rule) as response:
        assert response.status == 201
    url = f"{pbx.url}/rest/domain/{pbx.domain}/settings"
    statuses = []
    for _ in range(3):
        async with plain_http.get(url, headers=admin_headers(pbx)) as response:
            statuses.append(response.status)
            if response.status == 503:
                assert response.headers["Retry-After"] == "1"
                assert "error" in await response.json()
    assert statuses == [503, 503, 200]


async def test_reset_fault_drops_the_connection(
    pbx: PbxEmulator, plain_http: aiohttp.ClientSession
) -> None:
    """A reset fault closes the connection without a response."""
    # aiohttp silently retries a GET once on a reused keep-alive connection: reset twice.
    rule = {"path": "/users", "kind": "reset", "count": 2}
    async with plain_http.post(f"{pbx.control_url}faults", json=rule):
        pass
    with pytest.raises(aiohttp.ClientConnectionError):
        async with plain_http.get(
            f"{pbx.url}/rest/domain/{pbx.domain}/users", headers=admin_headers(pbx)
        ) as response:
            await response.read()


async def test_latency_applies_to_every_rest_request(
    pbx: PbxEmulator, plain_http: aiohttp.ClientSession
) -> None:
    """POST /_emulator/latency adds the given delay to each PBX request."""
    async with plain_http.post(f"{pbx.control_url}latency", json={"latency_ms": 50}) as response:
        assert (await response.json()) == {"latency_s": 0.05}
    started = time.perf_counter()
    async with plain_http.get(f"{pbx.url}/rest/system/session") as response:
        assert response.status == 200
    assert time.perf_counter() - started >= 0.05


async def test_seed_adds_realistic_extensions_via_control_api(
    pbx: PbxEmulator, plain_http: aiohttp.ClientSession
) -> None:
    """POST /_emulator/seed creates numbered extensions with names and M365-domain emails."""
    async with plain_http.post(
        f"{pbx.control_url}seed", json={"count": 200, "seed": 7}
    ) as response:
        assert (await response.json())["created"] == 200
    extensions = pbx.state.extensions()
    assert len(extensions) == 200
    emails = [a.settings["email_address"] for a in extensions]
    assert any(e == "" for e in emails)
    assert all(e.endswith("@contoso.example") for e in emails if e)
    assert len({e for e in emails if e}) == len([e for e in emails if e])
    assert any(a.disabled for a in extensions) and not all(a.disabled for a in extensions)
    assert all(a.settings["first_name"] and a.settings["display_name"] for a in extensions)


def test_seeding_is_deterministic() -> None:
    """The same seed gives the same extensions."""

    def snapshot(seed: int) -> list[dict[str, str]]:
        state = PbxState(("pbx.example",), max_extensions=0)
        return [a.settings for a in seed_extensions(state, 50, seed=seed)]

    assert snapshot(3) == snapshot(3)
    assert snapshot(3) != snapshot(4)


async def test_add_and_inspect_extension_via_control_api(
    pbx: PbxEmulator, plain_http: aiohttp.ClientSession
) -> None:
    """POST /_emulator/extensions adds one; GET /_emulator/extensions/{n} shows it."""
    body = {"number": "1001", "first_name": "Ann", "last_name": "Smith", "disabled": True}
    async with plain_http.post(f"{pbx.control_url}extensions", json=body) as response:
        assert response.status == 201
    async with plain_http.get(f"{pbx.control_url}extensions/1001") as response:
        shown = await response.json()
    assert shown["first_name"] == "Ann" and shown["disabled"] == "true"
    async with plain_http.get(f"{pbx.control_url}extensions/1999") as response:
        assert response.status == 404


async def test_state_dump_and_quirks(pbx: PbxEmulator, plain_http: aiohttp.ClientSession) -> None:
    """The state dump lists accounts; quirks toggles strict duplicates at runtime."""
    pbx.state.add_extension("1001")
    async with plain_http.get(f"{pbx.control_url}state") as response:
        dump = await response.json()
    assert "1001" in dump["tenants"][pbx.domain]["accounts"]
    async with plain_http.post(
        f"{pbx.control_url}quirks", json={"strict_duplicates": True}
    ) as response:
        assert (await response.json())["strict_duplicates"] is True
    assert pbx.state.strict_duplicates


async def test_clock_advance_via_control_api(
    pbx: PbxEmulator, plain_http: aiohttp.ClientSession
) -> None:
    """POST /_emulator/clock/advance moves the emulated clock forward."""
    before = pbx.clock.now()
    async with plain_http.post(f"{pbx.control_url}clock/advance", json={"seconds": 60}) as response:
        assert response.status == 200
    assert pbx.clock.now() >= before + 60


async def test_serves_a_thousand_concurrent_requests(
    pbx: PbxEmulator, plain_http: aiohttp.ClientSession
) -> None:
    """1,000 concurrent authenticated reads all succeed (bench/clients.py measures speed)."""
    pbx.state.add_extension("1001")
    url = f"{pbx.url}/rest/domain/{pbx.domain}/user_settings/1001"
    headers = admin_headers(pbx)

    async def read() -> int:
        async with plain_http.get(url, headers=headers) as response:
            await response.read()
            return response.status

    statuses = await asyncio.gather(*(read() for _ in range(1000)))
    assert set(statuses) == {200}


async def test_lists_ten_thousand_extensions(
    make_pbx: MakePbx, plain_http: aiohttp.ClientSession
) -> None:
    """/extensions and /users list all of 10,000 extensions."""
    pbx = await make_pbx(seed_extensions=10_000)
    for path in ("extensions", "users"):
        async with plain_http.get(
            f"{pbx.url}/rest/domain/{pbx.domain}/{path}", headers=admin_headers(pbx)
        ) as response:
            body = await response.json()
        assert len(body) >= 10_000


async def test_https_with_the_test_ca(make_pbx: MakePbx, tmp_path: Path) -> None:
    """With a TestCA the PBX serves HTTPS that a client trusting that CA accepts."""
    ca = create_test_ca(tmp_path)
    pbx = await make_pbx(tls=ca)
    assert pbx.url.startswith("https://")
    connector = aiohttp.TCPConnector(ssl=ca.client_context())
    async with (
        aiohttp.ClientSession(connector=connector) as session,
        session.get(f"{pbx.url}/rest/system/session") as response,
    ):
        assert response.status == 200


async def test_lost_reply_applies_the_write_then_drops_the_connection(
    pbx: PbxEmulator, plain_http: aiohttp.ClientSession
) -> None:
    """With a lost_replies rule the write lands but the client gets no response."""
    async with plain_http.post(f"{pbx.control_url}lost_replies", json={"path": "/addacc"}) as r:
        assert r.status == 201
    url = f"{pbx.url}/rest/domain/{pbx.domain}/addacc"
    body = {"type": "extensions", "account_ext": "501"}
    with pytest.raises(aiohttp.ClientConnectionError):
        async with plain_http.post(url, json=body, headers=admin_headers(pbx)) as response:
            await response.read()
    assert pbx.state.get("501") is not None
