"""Write confirmation against every reply style real Vodia builds give a user_settings POST:
the spec's echo, `{}`, plain text, and values stored normalised (emulators/pbx/quirks.py)."""

from __future__ import annotations

import aiohttp
import pytest

from emulators.faults import FaultRule
from emulators.pbx import PbxEmulator
from emulators.pbx.quirks import WRITE_REPLIES
from tests.plugins.pbx_emulator import MakePbx, admin_headers
from worker.errors import PbxWriteNotApplied
from worker.vodia import VodiaClient
from worker.vodia.confirm import same_value, unapplied

# What Microsoft 365 might hand us, and what a normalising build would keep of it.
SENT = {
    "first_name": "Ann ",
    "display_name": "Smith",
    "email_address": "Ann.Smith@Contoso.example",
    "cell_dis": "+1 425-555 0100",
}


def _client(pbx: PbxEmulator) -> VodiaClient:
    return VodiaClient(
        pbx.url, pbx.domain, pbx.config.admin_user, pbx.config.admin_password, backoff_s=0.01
    )


@pytest.mark.parametrize("style", WRITE_REPLIES)
async def test_create_and_update_are_confirmed_whatever_the_reply_style(
    make_pbx: MakePbx, style: str
) -> None:
    """create and update succeed under every reply style and return what the PBX stored."""
    pbx = await make_pbx(write_reply=style)
    async with _client(pbx) as client:
        created = await client.create_extension("1005", SENT)
        updated = await client.update_extension("1005", {"display_name": "Smith-Lee"})
    stored = pbx.state.get("1005")
    assert stored is not None
    assert created.email == stored.settings["email_address"]
    assert created.cell == stored.settings["cell_dis"]
    assert updated.last_name == "Smith-Lee" == stored.settings["display_name"]
    if style == "normalised":
        assert (created.email, created.cell) == ("ann.smith@contoso.example", "+14255550100")


@pytest.mark.parametrize("style", WRITE_REPLIES)
async def test_a_write_that_did_not_land_still_fails(make_pbx: MakePbx, style: str) -> None:
    """A 200 that changed nothing is PbxWriteNotApplied under every style: the read-back
    shows the old value."""
    pbx = await make_pbx(write_reply=style)
    pbx.state.add_extension("1001", first_name="Ann")
    pbx.faults.add(
        FaultRule(path_pattern="/user_settings/", kind="status", status=200, method="POST")
    )
    async with _client(pbx) as client:
        with pytest.raises(PbxWriteNotApplied, match="first_name"):
            await client.update_extension("1001", {"first_name": "Anna"})


async def test_an_echo_that_shows_every_field_needs_no_read_back(pbx: PbxEmulator) -> None:
    """With the spec's echo, an update is one POST and no GET."""
    pbx.state.add_extension("1001", first_name="Ann")
    async with _client(pbx) as client:
        await client.update_extension("1001", {"first_name": "Anna"})
    assert dict(pbx.state.requests_by_method) == {"POST": 1}


@pytest.mark.parametrize(
    ("style", "content_type", "body"),
    [
        ("echo", "application/json", None),
        ("empty", "application/json", {}),
        ("text", "text/plain", "ok"),
        ("normalised", "application/json", None),
    ],
)
async def test_emulator_reply_styles(
    make_pbx: MakePbx,
    plain_http: aiohttp.ClientSession,
    style: str,
    content_type: str,
    body: object,
) -> None:
    """Each style answers as documented in quirks.py; normalised stores normalised values."""
    pbx = await make_pbx(write_reply=style)
    pbx.state.add_extension("1001")
    url = f"{pbx.url}/rest/domain/{pbx.domain}/user_settings/1001"
    async with plain_http.post(url, json=SENT, headers=admin_headers(pbx)) as response:
        assert response.status == 200 and response.content_type == content_type
        reply = (
            await response.json() if content_type == "application/json" else await response.text()
        )
    stored = pbx.state.get("1001")
    assert stored is not None
    if body is not None:
        assert reply == body
    else:
        assert (
            isinstance(reply, dict) and reply["email_address"] == stored.settings["email_address"]
        )
    expected = "ann.smith@contoso.example" if style == "normalised" else SENT["email_address"]
    assert stored.settings["email_address"] == expected


async def test_reply_style_switch_via_control_api(
    pbx: PbxEmulator, plain_http: aiohttp.ClientSession
) -> None:
    """POST /_emulator/quirks sets write_reply; an unknown style is a 400."""
    async with plain_http.post(f"{pbx.control_url}quirks", json={"write_reply": "text"}) as reply:
        assert reply.status == 200 and (await reply.json())["write_reply"] == "text"
    assert pbx.state.quirks.write_reply == "text"
    async with plain_http.post(f"{pbx.control_url}quirks", json={"write_reply": "xml"}) as reply:
        assert reply.status == 400


def test_lenient_comparison() -> None:
    """Emails ignore case, cells compare by digits, names by collapsed whitespace; a real
    difference is still a difference."""
    assert same_value("email_address", "Ann@Contoso.example", "ann@contoso.example")
    assert same_value("cell_dis", "+1 425-555 0100", "+14255550100")
    assert same_value("first_name", "Ann ", "Ann")
    assert not same_value("cell_dis", "+14255550100", "+14255550101")
    assert not same_value("email_address", "ann@contoso.example", "bo@contoso.example")
    assert not same_value("first_name", "Ann", "Anna")
    assert unapplied({"first_name": "Ann", "cell_dis": "1"}, {"first_name": "ann"}) == [
        "cell_dis",
        "first_name",
    ]
