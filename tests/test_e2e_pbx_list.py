"""A PBX list that suddenly shrinks (a partial or paged answer) frees no numbers and makes no
extensions; a shrink that a second read and a look-up confirm is acted on."""

from __future__ import annotations

import aiohttp
import pytest

from store.directory import get_extensions, get_released_numbers
from store.models import Extension
from store.records import last_round, list_audit
from tests.plugins.pbx_emulator import MakePbx, admin_headers
from tests.plugins.pipeline import MakeStack, Stack, graph_user
from worker.errors import PbxListIncomplete
from worker.pbxlist import complete_list, suspicious_drop

NUMBERS = ["200", "201", "202", "203", "204", "205"]


async def _six_users(make_stack: MakeStack) -> tuple[Stack, list[dict[str, str]]]:
    stack = await make_stack()
    await stack.settle()
    users = []
    for index in range(len(NUMBERS)):
        users.append(stack.directory.create_user(**graph_user(f"User{index}", "Lee")))
        await stack.drain()
    assert sorted(await get_extensions(stack.db, stack.link.id)) == NUMBERS
    return stack, users


def _accounts(stack: Stack) -> list[str]:
    return sorted(a.number for a in stack.pbx_state.extensions())


async def test_one_truncated_answer_is_read_again_and_frees_nothing(make_stack: MakeStack) -> None:
    """Both lists of one read come back empty: the round reads again, applies the update
    and frees no number; no extension is created."""
    stack, users = await _six_users(make_stack)
    stack.pbx_state.quirks.update({"truncate_lists": 2, "truncate_keep": 0})
    stack.directory.update_user(users[0]["id"], surname="Lee-Smith")
    await stack.drain()
    assert stack.pbx_state.get("200").settings["display_name"] == "Lee-Smith"
    assert stack.pbx_state.quirks.truncate_lists == 0
    assert await get_released_numbers(stack.db, stack.link.id) == {}
    assert _accounts(stack) == NUMBERS
    assert not await list_audit(stack.db, stack.link.id, outcome="failed")


async def test_a_list_that_stays_short_stops_the_round(make_stack: MakeStack) -> None:
    """A build that always lists only the first two extensions: the round is not acted on
    (a retry is recorded, naming an extension that still exists); nothing freed or created."""
    stack, users = await _six_users(make_stack)
    stack.pbx_state.quirks.update({"truncate_lists": -1, "truncate_keep": 2})
    stack.directory.update_user(users[5]["id"], surname="Lee-Smith")
    await stack.drain()
    last = await last_round(stack.db, stack.link.id)
    assert last is not None and last.outcome == "retry"
    assert "PbxListIncomplete" in (last.error or "") and "still exists" in (last.error or "")
    assert await get_released_numbers(stack.db, stack.link.id) == {}
    assert sorted(await get_extensions(stack.db, stack.link.id)) == NUMBERS
    assert _accounts(stack) == NUMBERS
    assert stack.pbx_state.get("205").settings["display_name"] == "Lee"


async def test_extensions_really_removed_on_the_pbx_are_freed(make_stack: MakeStack) -> None:
    """Four extensions removed on the PBX by someone else: two reads agree and the missing
    numbers are gone, so they enter their cool-off."""
    stack, users = await _six_users(make_stack)
    for number in NUMBERS[2:]:
        stack.pbx_state.remove_account(number)
    stack.directory.update_user(users[0]["id"], surname="Lee-Smith")
    await stack.drain()
    assert sorted(await get_released_numbers(stack.db, stack.link.id)) == NUMBERS[2:]
    assert stack.pbx_state.get("200").settings["display_name"] == "Lee-Smith"


def test_drop_threshold() -> None:
    """One number gone is believed at once; more than one, or more than 1 % of a large
    tenant, needs a second look."""
    cached = [str(n) for n in range(1000)]
    assert suspicious_drop(cached[:6], cached[:5]) == []
    assert suspicious_drop(cached[:6], cached[:4]) == ["4", "5"]
    assert suspicious_drop(cached, cached[:990]) == []
    assert len(suspicious_drop(cached, cached[:989])) == 11


async def test_emulator_truncates_the_next_list_reads(
    make_pbx: MakePbx, plain_http: aiohttp.ClientSession
) -> None:
    """truncate_lists=1 cuts the next list answer to truncate_keep extension rows; service
    accounts stay listed; the read after it is whole again."""
    pbx = await make_pbx()
    for number in ("1001", "1002", "1003"):
        pbx.state.add_extension(number)
    async with plain_http.post(
        f"{pbx.control_url}quirks", json={"truncate_lists": 1, "truncate_keep": 1}
    ) as reply:
        assert reply.status == 200
    url, headers = f"{pbx.url}/rest/domain/{pbx.domain}/users", admin_headers(pbx)
    async with plain_http.get(url, headers=headers) as reply:
        first = await reply.json()
    async with plain_http.get(url, headers=headers) as reply:
        second = await reply.json()
    kinds = [r["usertype"] for r in first]
    assert kinds.count("extensions") == 1 and "hunts" in kinds
    assert sum(r["usertype"] == "extensions" for r in second) == 3


class _ShrinkingLister:
    """Lists fewer extensions on every read: no emulator switch cuts two reads differently."""

    def __init__(self, sizes: list[int]) -> None:
        self.sizes = sizes

    async def list_extensions(self, *, with_cell: bool = True) -> list[Extension]:
        return [Extension(str(n)) for n in range(self.sizes.pop(0))]

    async def get_extension(self, number: str) -> Extension | None:
        raise AssertionError("an unstable list needs no look-up")


async def test_two_different_short_reads_are_refused() -> None:
    """Cached 100, then 50, then 40 listed: PbxListIncomplete, naming both counts."""
    cached = [str(n) for n in range(100)]
    lister = _ShrinkingLister([40])
    first = [Extension(str(n)) for n in range(50)]
    with pytest.raises(PbxListIncomplete, match="listed 50 and then 40"):
        await complete_list(lister, cached, first, with_cell=False)
