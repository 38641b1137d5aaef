"""End to end on loopback: a directory change reaches the PBX through a real notification,
the real webhook, the durable queue and a real delta round, with no sweep or manual step."""

from __future__ import annotations

from typing import Any

from store.directory import get_bindings
from store.events import list_events
from store.models import EventKind, EventStatus
from store.subscriptions import link_subscriptions
from tests.plugins.pipeline import MakeStack, Stack, graph_user

ANN = graph_user("Ann", "Lee", businessPhones=["(425) 555-0101"])


def _ext(stack: Stack, number: str) -> dict[str, str]:
    account = stack.pbx_state.get(number)
    assert account is not None, f"extension {number} does not exist"
    return dict(account.settings)


async def _ready(make_stack: MakeStack, **kwargs: Any) -> Stack:
    """A subscribed stack whose directory already has one user (on extension 200): a
    directory with nobody left in it trips the empty-directory brake by design."""
    stack = await make_stack(**kwargs)
    await stack.settle()
    assert await link_subscriptions(stack.db, stack.link.id), "a subscription should exist"
    stack.directory.create_user(**graph_user("Mo", "Admin", email="mo@contoso.example"))
    await stack.drain()
    assert _ext(stack, "200")["email_address"] == "mo@contoso.example"
    return stack


async def test_created_user_gets_an_extension_through_a_notification(
    make_stack: MakeStack,
) -> None:
    """A new Graph user gets the next free number with names, email and E.164 cell."""
    stack = await _ready(make_stack)
    stack.directory.create_user(**ANN)
    await stack.drain()
    ext = _ext(stack, "201")
    assert ext["first_name"] == "Ann"
    assert ext["display_name"] == "Lee"
    assert ext["email_address"] == "ann.lee@contoso.example"
    assert ext["cell_dis"] == "+14255550101"
    events = await list_events(stack.db, stack.link.id)
    assert events
    # Every event is done but the link's next safety poll (worker/polling.py), waiting.
    assert all(e.status is EventStatus.DONE for e in events if e.kind is not EventKind.POLL)


async def test_update_soft_delete_restore_and_hard_delete(make_stack: MakeStack) -> None:
    """Updated → updated; soft-deleted → disabled; restored → re-enabled with the same number;
    hard-deleted → stays disabled (never deleted)."""
    stack = await _ready(make_stack)
    user = stack.directory.create_user(**ANN)
    await stack.drain()
    stack.directory.update_user(user["id"], surname="Lee-Smith", businessPhones=["+1 425 555 0199"])
    await stack.drain()
    ext = _ext(stack, "201")
    assert (ext["display_name"], ext["cell_dis"]) == ("Lee-Smith", "+14255550199")

    stack.directory.soft_delete_user(user["id"])
    await stack.drain()
    assert _ext(stack, "201")["disabled"] == "true"

    stack.directory.restore_user(user["id"])
    await stack.drain()
    assert _ext(stack, "201")["disabled"] == "false"
    assert [b.number for b in await get_bindings(stack.db, stack.link.id)] == ["200", "201"]

    stack.directory.soft_delete_user(user["id"])
    await stack.drain()
    stack.directory.hard_delete_user(user["id"])
    await stack.drain()
    assert _ext(stack, "201")["disabled"] == "true"


async def test_account_disabled_disables_the_extension(make_stack: MakeStack) -> None:
    """accountEnabled false → the extension is disabled; true again → enabled."""
    stack = await _ready(make_stack)
    user = stack.directory.create_user(**ANN)
    await stack.drain()
    stack.directory.update_user(user["id"], accountEnabled=False)
    await stack.drain()
    assert _ext(stack, "201")["disabled"] == "true"
    stack.directory.update_user(user["id"], accountEnabled=True)
    await stack.drain()
    assert _ext(stack, "201")["disabled"] == "false"


async def test_email_change_renames_and_never_duplicates(make_stack: MakeStack) -> None:
    """A changed mail and UPN update the bound extension; no second extension appears."""
    stack = await _ready(make_stack)
    user = stack.directory.create_user(**ANN)
    await stack.drain()
    stack.directory.update_user(
        user["id"], mail="ann.smith@contoso.example", userPrincipalName="ann.smith@contoso.example"
    )
    await stack.drain()
    assert _ext(stack, "201")["email_address"] == "ann.smith@contoso.example"
    assert stack.pbx_state.get("202") is None
    assert len(await get_bindings(stack.db, stack.link.id)) == 2
