"""The Graph emulator's directory and delta log, without HTTP."""

from __future__ import annotations

import pytest

from emulators.clock import Clock
from emulators.graph.delta import DeltaState, DeltaTokens, read_page
from emulators.graph.directory import Directory
from emulators.graph.errors import GraphError


def full_round(
    directory: Directory, state: DeltaState
) -> tuple[list[dict[str, object]], DeltaState]:
    items: list[dict[str, object]] = []
    while True:
        page = read_page(directory, state, 200, minimal=True, now_s=directory.clock.now())
        items.extend(page.items)
        state = page.next_state
        if page.round_done:
            return items, state


def test_change_log_stays_bounded_and_delta_stays_right() -> None:
    """Thousands of updates to a few users compact the log; a round still sees each user once."""
    directory = Directory(Clock())
    users = directory.seed(10, seed=1).user_ids
    tokens = DeltaTokens(directory.clock)
    _, state = full_round(directory, tokens.start(None))
    for round_no in range(3000):
        directory.update_user(users[round_no % 3], jobTitle=f"title {round_no}")
    assert directory.change_log_length <= 2 * len(directory.records) + 1024
    items, _ = full_round(directory, state)
    assert sorted(item["id"] for item in items) == sorted(users[:3])
    assert {item["jobTitle"] for item in items} == {"title 2997", "title 2998", "title 2999"}


def test_python_methods_mirror_graph_rules() -> None:
    """create/update/soft/restore/hard delete keep UPNs unique and refuse bad input."""
    directory = Directory(Clock())
    user = directory.create_user(displayName="A", userPrincipalName="a@contoso.example")
    with pytest.raises(GraphError) as duplicate:
        directory.create_user(displayName="B", userPrincipalName="A@CONTOSO.example")
    assert duplicate.value.status == 400
    with pytest.raises(GraphError):
        directory.update_user(user["id"], accountEnabled="no")
    directory.soft_delete_user(user["id"])
    with pytest.raises(GraphError) as missing:
        directory.get_user(user["id"])
    assert missing.value.code == "Request_ResourceNotFound"
    assert directory.restore_user(user["id"])["deletedDateTime"] is None
    directory.hard_delete_user(user["id"])
    again = directory.create_user(displayName="A2", userPrincipalName="a@contoso.example")
    assert again["id"] != user["id"]


def test_listeners_hear_each_change_kind() -> None:
    """Directory listeners get 'updated' for create/update/soft delete/restore, 'deleted' last."""
    directory = Directory(Clock())
    heard: list[str] = []
    directory.listeners.append(lambda _user_id, change: heard.append(change))
    user_id = directory.create_user(displayName="A", userPrincipalName="a@contoso.example")["id"]
    directory.update_user(user_id, jobTitle="X")
    directory.update_user(user_id, jobTitle="X")  # no change, no notification
    directory.soft_delete_user(user_id)
    directory.restore_user(user_id)
    directory.hard_delete_user(user_id)
    assert heard == ["updated"] * 4 + ["deleted"]


@pytest.mark.slow
def test_seeding_and_a_delta_round_over_100000_users() -> None:
    """100,000 users seed, and a full delta round pages through every one of them.

    How fast is bench/emulators.py's business; this checks that it works at that size."""
    directory = Directory(Clock())
    directory.seed(100_000, seed=1)
    assert directory.user_count == 100_000
    tokens = DeltaTokens(directory.clock)
    items, _ = full_round(directory, tokens.start(("id", "displayName")))
    assert len(items) == 100_000
    assert len({item["id"] for item in items}) == 100_000
