"""Older Vodia builds take PUT for user_settings, addacc and domain_action (Vodia's PHP
sample) and answer POST with 405: the client falls back once and remembers it."""

from __future__ import annotations

import aiohttp
import pytest

from emulators.pbx import PbxEmulator
from tests.plugins.pbx_emulator import MakePbx, admin_headers
from worker.vodia import VodiaClient


def _client(pbx: PbxEmulator) -> VodiaClient:
    return VodiaClient(
        pbx.url, pbx.domain, pbx.config.admin_user, pbx.config.admin_password, backoff_s=0.01
    )


async def test_every_write_works_on_a_put_only_build_with_one_405(make_pbx: MakePbx) -> None:
    """create, update, disable and enable succeed; only the first write is a POST (405),
    every later one goes straight out as PUT; nothing is ever DELETEd."""
    pbx = await make_pbx(legacy_put=True)
    pbx.state.add_extension("1001", first_name="Ann")
    async with _client(pbx) as client:
        created = await client.create_extension("1002", {"first_name": "Bo"})
        updated = await client.update_extension("1001", {"first_name": "Anna"})
        await client.disable(["1001", "1002"])
        assert pbx.state.get("1001").disabled and pbx.state.get("1002").disabled  # type: ignore[union-attr]
        await client.enable(["1002"])
    assert (created.first_name, updated.first_name) == ("Bo", "Anna")
    assert not pbx.state.get("1002").disabled  # type: ignore[union-attr]
    assert pbx.state.requests_by_method["POST"] == 1
    assert pbx.state.requests_by_method["PUT"] == 5  # addacc, user_settings x2, action x2
    assert "DELETE" not in pbx.state.requests_by_method


async def test_a_current_build_is_never_sent_put(pbx: PbxEmulator) -> None:
    """Against a build that takes POST the client never tries PUT."""
    pbx.state.add_extension("1001")
    async with _client(pbx) as client:
        await client.create_extension("1002", {"first_name": "Bo"})
        await client.update_extension("1001", {"first_name": "Anna"})
        await client.disable(["1001"])
    assert set(pbx.state.requests_by_method) == {"GET", "POST"}


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("user_settings/1001", {"first_name": "Anna"}),
        ("addacc", {"type": "extensions", "account_ext": "1002"}),
        ("domain_action", {"type": "accounts", "action": "disable_selected", "selected": "1001"}),
    ],
)
async def test_emulator_legacy_put_mode(
    make_pbx: MakePbx, plain_http: aiohttp.ClientSession, path: str, body: dict[str, str]
) -> None:
    """legacy_put: POST answers 405 (Allow lists PUT) and changes nothing; PUT applies."""
    pbx = await make_pbx(legacy_put=True)
    pbx.state.add_extension("1001", first_name="Ann")
    url, headers = f"{pbx.url}/rest/domain/{pbx.domain}/{path}", admin_headers(pbx)
    before = pbx.state.dump()["tenants"]
    async with plain_http.post(url, json=body, headers=headers) as response:
        assert response.status == 405 and "PUT" in response.headers["Allow"]
    assert pbx.state.dump()["tenants"] == before
    async with plain_http.put(url, json=body, headers=headers) as response:
        assert response.status == 200
    assert pbx.state.dump()["tenants"] != before
