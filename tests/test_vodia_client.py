"""VodiaClient against the PBX emulator: every call, as system admin and as tenant admin."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from emulators.pbx import PbxEmulator
from emulators.pbx.quirks import WRITE_REPLIES
from emulators.tls import create_test_ca
from store.models import Extension
from tests.plugins.pbx_emulator import MakePbx
from worker.errors import PbxNotFoundError
from worker.vodia import ExtensionExists, VodiaClient, extension_fields


@pytest.fixture(params=["system_admin", "tenant_admin"])
async def client(request: pytest.FixtureRequest, pbx: PbxEmulator) -> AsyncIterator[VodiaClient]:
    """A client logged in as the system admin or as admin@{domain}."""
    if request.param == "system_admin":
        username, password = pbx.config.admin_user, pbx.config.admin_password
    else:
        username = pbx.config.tenant_admin(pbx.domain)
        password = pbx.config.tenant_admin_password
    async with VodiaClient(pbx.url, pbx.domain, username, password, backoff_s=0.01) as client:
        yield client


async def test_verify_succeeds_with_good_credentials(client: VodiaClient, pbx: PbxEmulator) -> None:
    """verify() is an authenticated read of the tenant's settings."""
    await client.verify()
    assert pbx.state.requests_by_method["GET"] == 1


async def test_list_extensions_merges_lists_and_skips_service_accounts(
    client: VodiaClient, pbx: PbxEmulator
) -> None:
    """list_extensions returns only extensions, with names, email, cell and disabled."""
    pbx.state.add_extension(
        "1001",
        first_name="Ann",
        last_name="Smith",
        email="ann.smith@contoso.example",
        cell="+14255550100",
    )
    pbx.state.add_extension("1002", first_name="Bo", last_name="Lee", disabled=True)
    extensions = await client.list_extensions()
    assert extensions == [
        Extension("1001", "Ann", "Smith", "ann.smith@contoso.example", "+14255550100", False),
        Extension("1002", "Bo", "Lee", "", "", True),
    ]


async def test_list_extensions_without_cell_uses_two_requests(
    client: VodiaClient, pbx: PbxEmulator
) -> None:
    """with_cell=False reads only the two lists, never one request per extension."""
    for number in range(1000, 1050):
        pbx.state.add_extension(str(number), first_name="X", cell="+1")
    extensions = await client.list_extensions(with_cell=False)
    assert len(extensions) == 50 and all(e.cell == "" for e in extensions)
    assert pbx.state.requests_by_method["GET"] == 2


async def test_get_extension_reads_user_settings_or_none(
    client: VodiaClient, pbx: PbxEmulator
) -> None:
    """get_extension maps user_settings to an Extension; an unknown number gives None."""
    pbx.state.add_extension("1001", first_name="Ann", last_name="Smith", disabled=True)
    assert await client.get_extension("1001") == Extension("1001", "Ann", "Smith", disabled=True)
    assert await client.get_extension("1999") is None


@pytest.mark.parametrize("style", WRITE_REPLIES)
async def test_create_extension_sets_fields_and_confirms(
    client: VodiaClient, pbx: PbxEmulator, style: str
) -> None:
    """create_extension makes the account, writes the fields and returns the read-back,
    whatever the PBX answers the field write with."""
    pbx.state.quirks.write_reply = style
    wanted = Extension("1005", "Ann", "Smith", "ann.smith@contoso.example", "+14255550100")
    created = await client.create_extension("1005", extension_fields(wanted))
    assert created == wanted
    account = pbx.state.get("1005")
    assert account is not None and account.settings["cell_dis"] == "+14255550100"


async def test_create_existing_number_is_a_typed_error(
    client: VodiaClient, pbx: PbxEmulator
) -> None:
    """Creating a taken number raises ExtensionExists and writes nothing."""
    pbx.state.add_extension("1001", first_name="Ann")
    with pytest.raises(ExtensionExists):
        await client.create_extension("1001", {"first_name": "Other"})
    assert pbx.state.requests_by_method["POST"] == 0


@pytest.mark.parametrize("style", WRITE_REPLIES)
async def test_update_extension_sends_only_the_given_fields(
    client: VodiaClient, pbx: PbxEmulator, style: str
) -> None:
    """update_extension changes the given fields and leaves the others alone, whatever the
    PBX answers the write with."""
    pbx.state.quirks.write_reply = style
    pbx.state.add_extension("1001", first_name="Ann", last_name="Smith", email="a@contoso.example")
    updated = await client.update_extension("1001", {"display_name": "Jones"})
    assert updated == Extension("1001", "Ann", "Jones", "a@contoso.example")
    with pytest.raises(PbxNotFoundError):
        await client.update_extension("1999", {"first_name": "X"})


async def test_disable_and_enable_are_read_back(client: VodiaClient, pbx: PbxEmulator) -> None:
    """disable/enable flip the disabled flag through domain_action."""
    for number in ("1001", "1002", "1003"):
        pbx.state.add_extension(number)
    await client.disable(["1001", "1002"])
    assert [a.disabled for a in pbx.state.extensions()] == [True, True, False]
    await client.enable(["1002"])
    assert [a.disabled for a in pbx.state.extensions()] == [True, False, False]


async def test_disable_many_reads_back_with_one_list(client: VodiaClient, pbx: PbxEmulator) -> None:
    """Disabling 300 extensions takes two domain_action posts and a single /users read."""
    numbers = [str(n) for n in range(2000, 2300)]
    for number in numbers:
        pbx.state.add_extension(number)
    await client.disable(numbers)
    assert all(a.disabled for a in pbx.state.extensions())
    assert pbx.state.requests_by_method == {"POST": 2, "GET": 1}


async def test_disable_unknown_number_is_not_found(client: VodiaClient, pbx: PbxEmulator) -> None:
    """Disabling a number the PBX does not have raises PbxNotFoundError."""
    with pytest.raises(PbxNotFoundError):
        await client.disable(["1999"])


async def test_invalid_numbers_are_refused_before_sending(
    client: VodiaClient, pbx: PbxEmulator
) -> None:
    """Numbers with "/" or spaces (several accounts to the PBX) never reach it."""
    for bad in ("501/502", "501 502", ""):
        with pytest.raises(ValueError, match="invalid extension number"):
            await client.create_extension(bad, {})
        with pytest.raises(ValueError, match="invalid extension number"):
            await client.disable([bad])
    assert sum(pbx.state.requests_by_method.values()) == 0


async def test_client_talks_https_with_an_explicit_ca(make_pbx: MakePbx, tmp_path: Path) -> None:
    """With ssl= a context trusting the test CA, the client lists over HTTPS."""
    ca = create_test_ca(tmp_path)
    pbx = await make_pbx(tls=ca)
    pbx.state.add_extension("1001", first_name="Ann")
    async with VodiaClient(
        pbx.url,
        pbx.domain,
        pbx.config.admin_user,
        pbx.config.admin_password,
        ssl=ca.client_context(),
    ) as client:
        assert [e.first_name for e in await client.list_extensions()] == ["Ann"]
