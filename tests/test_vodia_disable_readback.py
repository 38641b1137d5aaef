"""domain_action always answers `{}` and Vodia does not document where the disabled flag then
shows: the client reads it back from /users and user_settings and accepts either."""

from __future__ import annotations

import aiohttp
import pytest

from emulators.faults import FaultRule
from emulators.pbx import PbxEmulator
from emulators.pbx.quirks import DISABLED_PLACES
from tests.plugins.pbx_emulator import MakePbx, admin_headers
from worker.errors import PbxNotFoundError, PbxWriteNotApplied
from worker.vodia import VodiaClient


def _client(pbx: PbxEmulator) -> VodiaClient:
    return VodiaClient(
        pbx.url, pbx.domain, pbx.config.admin_user, pbx.config.admin_password, backoff_s=0.01
    )


@pytest.mark.parametrize("count", [1, 25])
@pytest.mark.parametrize("place", DISABLED_PLACES)
async def test_disable_and_enable_are_confirmed_wherever_the_flag_shows(
    make_pbx: MakePbx, place: str, count: int
) -> None:
    """One or many numbers (the old code switched read-back source at 20): disable and
    enable succeed, and the PBX shows the change where this build shows it."""
    pbx = await make_pbx(disabled_shows_in=place)
    numbers = [str(1000 + i) for i in range(count)]
    for number in numbers:
        pbx.state.add_extension(number)
    async with _client(pbx) as client:
        await client.disable(numbers)
        assert all(pbx.state.shown_disabled(n) for n in numbers)
        assert all(e.disabled for e in await client.list_extensions(with_cell=False))
        await client.enable(numbers)
        assert not any(pbx.state.shown_disabled(n) for n in numbers)
        assert not any(e.disabled for e in await client.list_extensions(with_cell=False))


@pytest.mark.parametrize("place", DISABLED_PLACES)
async def test_a_disable_that_did_not_land_still_fails(make_pbx: MakePbx, place: str) -> None:
    """domain_action answering {} without acting is PbxWriteNotApplied in every mode."""
    pbx = await make_pbx(disabled_shows_in=place)
    pbx.state.add_extension("1001")
    pbx.faults.add(FaultRule(path_pattern="/domain_action", kind="status", status=200))
    async with _client(pbx) as client:
        with pytest.raises(PbxWriteNotApplied, match="1001"):
            await client.disable(["1001"])


async def test_an_unknown_number_is_not_found(pbx: PbxEmulator) -> None:
    """A number in neither /users nor user_settings raises PbxNotFoundError."""
    async with _client(pbx) as client:
        with pytest.raises(PbxNotFoundError, match="1999"):
            await client.disable(["1999"])


async def test_a_list_read_costs_two_requests_while_the_list_shows_the_flag(
    pbx: PbxEmulator,
) -> None:
    """Where /users shows the flag, a disable costs one /users read-back and listing stays
    two requests (no per-extension reads)."""
    for number in ("1001", "1002"):
        pbx.state.add_extension(number)
    async with _client(pbx) as client:
        await client.disable(["1001", "1002"])
        assert pbx.state.requests_by_method["GET"] == 1
        await client.list_extensions(with_cell=False)
    assert pbx.state.requests_by_method["GET"] == 3


@pytest.mark.parametrize(
    ("place", "users_row", "settings"),
    [
        ("both", True, "true"),
        ("users", True, "false"),
        ("settings", False, "true"),
    ],
)
async def test_emulator_shows_the_flag_where_told(
    make_pbx: MakePbx,
    plain_http: aiohttp.ClientSession,
    place: str,
    users_row: bool,
    settings: str,
) -> None:
    """disabled_shows_in decides whether /users, user_settings or both show the change."""
    pbx = await make_pbx(disabled_shows_in=place)
    pbx.state.add_extension("1001")
    base, headers = f"{pbx.url}/rest/domain/{pbx.domain}", admin_headers(pbx)
    body = {"type": "accounts", "action": "disable_selected", "selected": "1001"}
    async with plain_http.post(f"{base}/domain_action", json=body, headers=headers) as reply:
        assert await reply.json() == {}
    async with plain_http.get(f"{base}/users", headers=headers) as reply:
        row = next(r for r in await reply.json() if r["name"] == "1001")
    async with plain_http.get(f"{base}/user_settings/1001", headers=headers) as reply:
        shown = await reply.json()
    assert (row["disabled"], shown["disabled"]) == (users_row, settings)


async def test_once_learnt_a_single_disable_reads_its_settings_then_the_list(
    make_pbx: MakePbx,
) -> None:
    """The first read-back learns from /users (1 GET); then a single disable reads that
    extension's settings (1 GET), and the list only where the settings did not show it."""
    pbx = await make_pbx(disabled_shows_in="users")
    for number in ("1001", "1002"):
        pbx.state.add_extension(number)
    async with _client(pbx) as client:
        await client.disable(["1001"])
        assert pbx.state.requests_by_method["GET"] == 1
        await client.disable(["1002"])
        assert pbx.state.requests_by_method["GET"] == 3
    assert pbx.state.shown_disabled("1002")
    both = await make_pbx()
    for number in ("1001", "1002"):
        both.state.add_extension(number)
    async with _client(both) as client:
        await client.disable(["1001"])
        await client.disable(["1002"])
    assert both.state.requests_by_method["GET"] == 2
