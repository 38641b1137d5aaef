"""Numbers held by PBX accounts that are not extensions (hunt groups, queues, IVRs,
conferences, paging, aliases, ...) are in use: read from the PBX, never handed out by the
planner, never offered in the popup."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from emulators.pbx import PbxEmulator
from store.models import Binding, DirectoryUser, Extension
from worker.planner import (
    ActionKind,
    ConflictKind,
    PlanInput,
    Policy,
    plan_round,
    plan_selection,
    plan_sweep,
)
from worker.vodia import VodiaClient

NOW = 1_800_000_000.0
# What the emulator seeds in every tenant, as `/users` reports them.
SERVICE = {"800": "hunts", "801": "acds", "802": "ivrnodes"}


@pytest.fixture
async def client(pbx: PbxEmulator) -> AsyncIterator[VodiaClient]:
    user, password = pbx.config.tenant_admin(pbx.domain), pbx.config.tenant_admin_password
    async with VodiaClient(pbx.url, pbx.domain, user, password, backoff_s=0.01) as client:
        yield client


async def test_list_accounts_reports_every_other_account_kind(
    client: VodiaClient, pbx: PbxEmulator
) -> None:
    """The seeded hunt group, queue and IVR, an added conference and paging group, and an
    alias name of an extension are all taken; extensions stay apart."""
    pbx.state.add_extension("803", first_name="Ann", email="ann@contoso.example")
    pbx.state.add_account("804", "conferences")
    pbx.state.add_account("805", "hoots")
    extension = pbx.state.get("803")
    assert extension is not None
    extension.alias.append("806")
    accounts = await client.list_accounts(with_cell=False)
    assert [e.number for e in accounts.extensions] == ["803"]
    assert accounts.others == {
        **SERVICE,
        "804": "conferences",
        "805": "hoots",
        "806": "alias",
    }


def _member(uid: str) -> DirectoryUser:
    return DirectoryUser(id=uid, given_name=uid.title(), surname="Test", mail=f"{uid}@example.com")


def _input(users: list[str], bindings: tuple[Binding, ...] = ()) -> PlanInput:
    return PlanInput(
        users={uid: _member(uid) for uid in users},
        extensions={},
        bindings=bindings,
        policy=Policy.from_settings({"auto_create": True, "ranges": "800-809"}),
        now=NOW,
        other_accounts=SERVICE,
    )


def test_new_users_are_numbered_past_other_accounts() -> None:
    """A range that covers 800-802 gives new users 803 and up, in a round and a sweep."""
    inp = _input(["ann", "bob"])
    for plan in (plan_round(inp, ["ann", "bob"]), plan_sweep(_input(["ann", "bob"]))):
        creates = {a.user_id: a.number for a in plan.by_kind(ActionKind.CREATE)}
        assert creates == {"ann": "803", "bob": "804"}


def test_popup_never_offers_or_accepts_another_accounts_number() -> None:
    """Auto-assign skips 800-802; asking for 801 is a number conflict naming the queue,
    with the next free number suggested."""
    plan = plan_selection(_input(["ann", "bob"]), [("ann", None), ("bob", "801")])
    assert [(a.user_id, a.number) for a in plan.by_kind(ActionKind.CREATE)] == [("ann", "803")]
    (conflict,) = plan.by_kind(ActionKind.CONFLICT)
    assert conflict.conflict is ConflictKind.NUMBER
    assert "801 is already in use by an agent group (queue)" in conflict.message
    assert conflict.suggested_number == "804"


def test_bound_number_now_held_by_another_account_is_a_conflict() -> None:
    """A bound user whose extension is gone and whose number is now a hunt group is shown
    as a conflict; nothing is created over the hunt group."""
    inp = _input(["ann"], bindings=(Binding("ann", "800"),))
    plan = plan_round(inp, ["ann"])
    assert not plan.writes
    (conflict,) = plan.by_kind(ActionKind.CONFLICT)
    assert conflict.number == "800" and "now belongs to a hunt group" in conflict.message


def test_extensions_on_other_numbers_are_still_extensions() -> None:
    """Sanity: an extension in the range is in use as before (803 busy, so 804)."""
    inp = PlanInput(
        users={"ann": _member("ann")},
        extensions={"803": Extension("803", email="x@example.com")},
        bindings=(),
        policy=Policy.from_settings({"auto_create": True, "ranges": "800-809"}),
        now=NOW,
        other_accounts=SERVICE,
    )
    assert [a.number for a in plan_round(inp, ["ann"]).by_kind(ActionKind.CREATE)] == ["804"]
