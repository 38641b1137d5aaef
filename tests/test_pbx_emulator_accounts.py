"""The PBX emulator's tenant endpoints: lists, user_settings, addacc, domain_action, settings."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from emulators.pbx import PbxEmulator
from tests.plugins.pbx_emulator import MakePbx, admin_headers, tenant_headers


class Pbx:
    """Tiny JSON helper bound to one emulator and the system admin."""

    def __init__(self, pbx: PbxEmulator, plain_http: aiohttp.ClientSession) -> None:
        self.pbx, self.http = pbx, plain_http
        self.base = f"{pbx.url}/rest/domain/{pbx.domain}"

    async def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        url = path if path.startswith("http") else f"{self.base}{path}"
        async with self.http.request(
            method, url, json=body, headers=admin_headers(self.pbx)
        ) as response:
            return response.status, await response.json()


@pytest.fixture
def api(pbx: PbxEmulator, plain_http: aiohttp.ClientSession) -> Pbx:
    return Pbx(pbx, plain_http)


async def test_domains_are_an_object_keyed_by_id(api: Pbx) -> None:
    """GET /rest/system/domains maps ids to {name, display, alias, country, area}."""
    status, body = await api.call("GET", f"{api.pbx.url}/rest/system/domains")
    assert status == 200
    assert body["1"]["name"] == api.pbx.domain
    assert set(body["1"]) == {"name", "display", "alias", "country", "area"}


async def test_users_list_has_real_booleans_and_usertypes(api: Pbx) -> None:
    """/users is an array of every account kind with boolean disabled and a usertype."""
    api.pbx.state.add_extension("1001", first_name="Ann", last_name="Smith", disabled=True)
    status, body = await api.call("GET", "/users")
    assert status == 200
    by_number = {row["name"]: row for row in body}
    assert by_number["1001"]["disabled"] is True
    assert by_number["1001"]["usertype"] == "extensions"
    assert by_number["1001"]["displayname"] == "Ann Smith"
    assert by_number["800"]["usertype"] == "hunts"
    assert isinstance(by_number["800"]["license"], bool)


async def test_extensions_list_is_keyed_by_id_and_holds_only_extensions(api: Pbx) -> None:
    """/extensions maps internal ids to rows with first_name, display_name, email, dnd bool."""
    account = api.pbx.state.add_extension(
        "1001", first_name="Ann", last_name="Smith", email="ann.smith@contoso.example"
    )
    status, body = await api.call("GET", "/extensions")
    assert status == 200
    assert list(body) == [str(account.id)]
    row = body[str(account.id)]
    assert row["name"] == "1001" and row["first_name"] == "Ann"
    assert row["display_name"] == "Smith" and row["email_address"] == "ann.smith@contoso.example"
    assert row["dnd"] is False and row["alias"] == ["1001"]


async def test_extensions_with_account_gives_detail_or_404(api: Pbx) -> None:
    """?account= returns one extension's detail, 404 for an unknown one."""
    api.pbx.state.add_extension("1001", cell="+14255550100")
    status, body = await api.call("GET", "/extensions?account=1001")
    assert status == 200 and body["cell_dis"] == "+14255550100"
    status, _ = await api.call("GET", "/extensions?account=1999")
    assert status == 404


async def test_userlist_extensions_wraps_accounts(api: Pbx) -> None:
    """/userlist/extensions answers {"accounts": [{account, name, display}]}."""
    api.pbx.state.add_extension("1001", first_name="Ann", last_name="Smith")
    status, body = await api.call("GET", "/userlist/extensions")
    assert status == 200
    assert body["accounts"] == [{"account": "1001", "name": "Ann Smith", "display": "Ann Smith"}]


async def test_user_settings_are_strings_with_an_alias_list(api: Pbx) -> None:
    """user_settings is a flat object of strings except alias; unknown accounts are 404."""
    api.pbx.state.add_extension("1001", disabled=True)
    status, body = await api.call("GET", "/user_settings/1001")
    assert status == 200
    assert body["disabled"] == "true" and body["alias"] == ["1001"]
    assert all(isinstance(v, str) for k, v in body.items() if k != "alias")
    status, _ = await api.call("GET", "/user_settings/1999")
    assert status == 404


@pytest.mark.parametrize("method", ["POST", "PUT"])
async def test_user_settings_write_merges_partially(api: Pbx, method: str) -> None:
    """A partial write changes only the sent fields and answers the whole object."""
    api.pbx.state.add_extension("1001", first_name="Ann", last_name="Smith", email="a@x.example")
    status, body = await api.call(method, "/user_settings/1001", {"first_name": "Anna"})
    assert status == 200
    assert body["first_name"] == "Anna"
    assert body["display_name"] == "Smith" and body["email_address"] == "a@x.example"
    assert "dnd" in body
    status, _ = await api.call(method, "/user_settings/1999", {"first_name": "X"})
    assert status == 404


async def test_user_settings_write_stores_booleans_as_strings(api: Pbx) -> None:
    """Booleans sent to user_settings come back as "true"/"false" strings."""
    api.pbx.state.add_extension("1001")
    _, body = await api.call("POST", "/user_settings/1001", {"dnd": True})
    assert body["dnd"] == "true"


@pytest.mark.parametrize(("method", "path"), [("POST", "/addacc"), ("PUT", "/addacc/")])
async def test_addacc_creates_extensions(api: Pbx, method: str, path: str) -> None:
    """addacc with type=extensions and account_ext creates the account; "/" makes several."""
    status, body = await api.call(method, path, {"type": "extensions", "account_ext": "501/502"})
    assert status == 200 and body == {}
    assert api.pbx.state.get("501") is not None and api.pbx.state.get("502") is not None


async def test_addacc_with_account_instead_of_account_ext_silently_does_nothing(api: Pbx) -> None:
    """The wrong number key for extensions answers 200 and creates nothing."""
    status, _ = await api.call("POST", "/addacc", {"type": "extensions", "account": "501"})
    assert status == 200
    assert api.pbx.state.get("501") is None


async def test_addacc_duplicate_is_a_silent_200_by_default(api: Pbx) -> None:
    """A duplicate number answers 200 and leaves the existing extension untouched."""
    api.pbx.state.add_extension("501", first_name="Ann")
    status, _ = await api.call("POST", "/addacc", {"type": "extensions", "account_ext": "501"})
    assert status == 200
    account = api.pbx.state.get("501")
    assert account is not None and account.settings["first_name"] == "Ann"


async def test_addacc_duplicate_is_400_in_strict_mode(
    make_pbx: MakePbx, plain_http: aiohttp.ClientSession
) -> None:
    """With strict_duplicates a duplicate number answers 400."""
    api = Pbx(await make_pbx(strict_duplicates=True), plain_http)
    api.pbx.state.add_extension("501")
    status, body = await api.call("POST", "/addacc", {"type": "extensions", "account_ext": "501"})
    assert status == 400 and "error" in body


async def test_addacc_rejects_bad_input(api: Pbx) -> None:
    """A missing type, a non-object body or a malformed number is 400."""
    assert (await api.call("POST", "/addacc", {"account_ext": "501"}))[0] == 400
    assert (await api.call("POST", "/addacc", ["501"]))[0] == 400
    bad = {"type": "extensions", "account_ext": "5 01"}
    assert (await api.call("POST", "/addacc", bad))[0] == 400


async def test_max_extensions_is_enforced(api: Pbx) -> None:
    """Past config max_extensions, addacc answers 400 and creates nothing."""
    status, body = await api.call("POST", "/config", {"max_extensions": "2"})
    assert status == 200 and body["max_extensions"] == "2"
    assert (await api.call("POST", "/addacc", {"type": "extensions", "account_ext": "501"}))[
        0
    ] == 200
    status, _ = await api.call("POST", "/addacc", {"type": "extensions", "account_ext": "502/503"})
    assert status == 400
    assert api.pbx.state.get("502") is None
    assert (await api.call("PUT", "/config", {"max_extensions": "3"}))[0] == 200
    assert (await api.call("POST", "/addacc", {"type": "extensions", "account_ext": "502"}))[
        0
    ] == 200


async def test_delete_removes_an_account_or_404(api: Pbx) -> None:
    """DELETE addacc/{ext} removes the extension; a missing one is 404."""
    api.pbx.state.add_extension("501")
    assert (await api.call("DELETE", "/addacc/501"))[0] == 200
    assert api.pbx.state.get("501") is None
    assert (await api.call("DELETE", "/addacc/501"))[0] == 404


async def test_domain_action_disables_and_enables_and_always_answers_empty(api: Pbx) -> None:
    """disable_selected/enable_selected flip `disabled` for space-separated numbers; reply {}."""
    for number in ("501", "502", "503"):
        api.pbx.state.add_extension(number)
    body = {"type": "accounts", "action": "disable_selected", "selected": "501 502 999"}
    assert await api.call("POST", "/domain_action", body) == (200, {})
    assert [a.disabled for a in api.pbx.state.extensions()] == [True, True, False]
    _, users = await api.call("GET", "/users")
    assert {u["name"]: u["disabled"] for u in users}["501"] is True
    body = {"type": "accounts", "action": "enable_selected", "selected": "502"}
    assert await api.call("POST", "/domain_action", body) == (200, {})
    assert [a.disabled for a in api.pbx.state.extensions()] == [True, False, False]
    assert await api.call("POST", "/domain_action", {"action": "reboot_selected"}) == (200, {})


async def test_settings_are_strings_and_merge(api: Pbx) -> None:
    """Tenant settings are string-valued; POST merges and returns the whole object."""
    status, before = await api.call("GET", "/settings")
    assert status == 200 and before["mssign"] == "false"
    status, after = await api.call("POST", "/settings", {"mssign": True})
    assert after["mssign"] == "true" and after["max_idle"] == before["max_idle"]


async def test_tenant_admin_can_write_its_domain(
    pbx: PbxEmulator, plain_http: aiohttp.ClientSession
) -> None:
    """The tenant admin creates and updates extensions in its own domain."""
    base = f"{pbx.url}/rest/domain/{pbx.domain}"
    headers = tenant_headers(pbx)
    body = {"type": "extensions", "account_ext": "601"}
    async with plain_http.post(f"{base}/addacc", json=body, headers=headers) as response:
        assert response.status == 200
    async with plain_http.post(
        f"{base}/user_settings/601", json={"first_name": "Bo"}, headers=headers
    ) as response:
        assert (await response.json())["first_name"] == "Bo"
