"""The whole lifecycle (create, update, disable, enable) end to end against each way real
Vodia builds behave where the documentation is silent (emulators/pbx/quirks.py)."""

from __future__ import annotations

from typing import Any

import pytest

from emulators.pbx.quirks import DISABLED_PLACES, WRITE_REPLIES
from store.records import list_audit
from tests.plugins.pipeline import MakeStack, Stack, graph_user


def _settings(stack: Stack, number: str) -> dict[str, str]:
    account = stack.pbx_state.get(number)
    assert account is not None, f"extension {number} does not exist"
    return dict(account.settings)


async def _lifecycle(stack: Stack) -> None:
    """Create, update, disable, enable one user; every write confirmed, none failed, and a
    round for an unchanged user writes nothing (a landed write is not retried)."""
    stack.directory.create_user(**graph_user("Mo", "Admin", email="mo@contoso.example"))
    await stack.drain()
    user = stack.directory.create_user(
        **graph_user("Ann", "Lee", email="Ann.Lee@Contoso.example", businessPhones=["12 34"])
    )
    await stack.drain()
    ext = _settings(stack, "201")
    assert (ext["first_name"], ext["display_name"]) == ("Ann", "Lee")
    assert ext["email_address"].lower() == "ann.lee@contoso.example"
    assert ext["cell_dis"].replace(" ", "") == "1234"

    stack.directory.update_user(user["id"], surname="Lee-Smith")
    await stack.drain()
    assert _settings(stack, "201")["display_name"] == "Lee-Smith"

    stack.directory.update_user(user["id"], accountEnabled=False)
    await stack.drain()
    assert stack.pbx_state.shown_disabled("201")
    stack.directory.update_user(user["id"], accountEnabled=True)
    await stack.drain()
    assert not stack.pbx_state.shown_disabled("201")

    writes = _writes(stack)
    stack.directory.update_user(user["id"], jobTitle="Engineer")
    await stack.drain()
    assert _writes(stack) == writes, "an applied write was redone"
    assert not await list_audit(stack.db, stack.link.id, outcome="failed")


def _writes(stack: Stack) -> int:
    methods = stack.pbx_state.requests_by_method
    return int(methods["POST"] + methods["PUT"])


async def _stack(make_stack: MakeStack, **quirks: Any) -> Stack:
    stack = await make_stack()
    stack.emus.pbx.state.quirks.update(quirks)
    await stack.settle()
    return stack


@pytest.mark.parametrize("style", WRITE_REPLIES)
async def test_lifecycle_under_each_write_reply_style(make_stack: MakeStack, style: str) -> None:
    """echo, `{}`, plain text and normalised values: the lifecycle completes with no
    failed action and no repeated write."""
    await _lifecycle(await _stack(make_stack, write_reply=style))


async def test_lifecycle_on_a_put_only_build(make_stack: MakeStack) -> None:
    """An older build that answers POST with 405: the lifecycle completes over PUT and
    only the link's first write was a POST."""
    stack = await _stack(make_stack, legacy_put=True)
    await _lifecycle(stack)
    assert stack.pbx_state.requests_by_method["POST"] == 1
    assert "DELETE" not in stack.pbx_state.requests_by_method


@pytest.mark.parametrize("place", DISABLED_PLACES)
async def test_lifecycle_wherever_the_disabled_flag_shows(
    make_stack: MakeStack, place: str
) -> None:
    """/users, user_settings or both show domain_action's effect: disable and enable are
    confirmed and not repeated."""
    await _lifecycle(await _stack(make_stack, disabled_shows_in=place))
