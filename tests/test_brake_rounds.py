"""The disable brake through real rounds: the Graph and PBX emulators on loopback, a real
SQLite store, `run_round` (delta read, PBX read, planner, applier, held list) and the
approval operation, as the engine and `m365sync approve` use them."""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cli.commands.demo import add_emulator_link
from emulators.harness import RunningEmulators, running_emulators
from store import Database, SecretBox, generate_key
from store.models import AuditEntry, HeldStatus
from store.records import add_audit, list_audit, list_held
from tests.plugins.pipeline import graph_user
from worker.linkadmin import check_link
from worker.linkctx import LinkClients, open_link_clients
from worker.operations import approve_held
from worker.planner import why_held
from worker.rounds import RoundOutcome, RoundRequest, run_round
from worker.settings import Settings

LEAVERS = 40
STAYERS = 5
LIMIT = 10
POLICY = {
    "auto_create": True,
    "ranges": "200-299",
    "disable_threshold_count": LIMIT,
    "disable_threshold_percent": 0,
}


@dataclass
class Tenant:
    emus: RunningEmulators
    db: Database
    clients: LinkClients
    leavers: list[str]  # Graph ids, deleted by the tests
    stayers: list[str]
    number: dict[str, str] = field(default_factory=dict)  # Graph id -> extension

    async def round(self, *notified: str, kind: str = "round") -> RoundOutcome:
        request = RoundRequest(kind=kind, notified_ids=frozenset(notified))
        return await run_round(self.db, self.clients, request)

    def delete(self, ids: Sequence[str]) -> None:
        for user_id in ids:
            self.emus.graph.directory.soft_delete_user(user_id)

    def disabled(self) -> set[str]:
        state = self.emus.pbx.state
        return {n for n in self.number.values() if state.get(n).settings["disabled"] == "true"}

    def numbers(self, ids: Sequence[str]) -> set[str]:
        return {self.number[i] for i in ids}

    async def held(self) -> list[str]:
        return [str(h.action["number"]) for h in await list_held(self.db, self.clients.link.id)]


@asynccontextmanager
async def tenant(**policy: Any) -> AsyncIterator[Tenant]:
    """45 users with extensions 200-244 after a full round; 40 of them will leave."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp)
        async with running_emulators(path / "emulators") as emus:
            emus.graph.identity.grant_admin_consent(emus.info["client_id"])
            db = await Database.open(path / "m365sync.db", SecretBox([generate_key().encode()]))
            try:
                settings = Settings(data_dir=path, database=path / "m365sync.db")
                link = await add_emulator_link(
                    db, emus.info, name="contoso", settings={**POLICY, **policy}
                )
                link = await check_link(db, link.id, settings)
                directory = emus.graph.directory
                ids = [
                    directory.create_user(**graph_user(f"User{i:02d}"))["id"]
                    for i in range(LEAVERS + STAYERS)
                ]
                async with await open_link_clients(db, link, settings) as clients:
                    world = Tenant(emus, db, clients, ids[:LEAVERS], ids[LEAVERS:])
                    created = await world.round(kind="full")
                    world.number = {a.user_id or "": a.number or "" for a in created.plan.writes}
                    assert len(world.number) == LEAVERS + STAYERS
                    yield world
            finally:
                await db.close()


# --- one mass deletion, split into random rounds ---------------------------------------


@dataclass(frozen=True)
class Step:
    deleted: tuple[int, ...]  # leavers Graph deletes before this round (indexes)
    notified: frozenset[int]  # leavers whose (late or repeated) notifications this round has
    kind: str  # "round" | "sweep"


@st.composite
def splits(draw: st.DrawFn) -> list[Step]:
    """The 40 deletions in a random order, cut into rounds of random sizes; each round also
    carries random late notifications (the rest of a burst Graph is still delivering), and
    a few more rounds of only those may follow, as may sweeps."""
    order = draw(st.permutations(range(LEAVERS)))
    cuts = sorted(draw(st.sets(st.integers(1, LEAVERS - 1), max_size=6)))
    bounds = list(zip([0, *cuts], [*cuts, LEAVERS], strict=True))
    tail = draw(st.integers(0, 2))
    steps = []
    for index in range(len(bounds) + tail):
        start, end = bounds[index] if index < len(bounds) else (LEAVERS, LEAVERS)
        steps.append(
            Step(
                deleted=tuple(order[start:end]),
                notified=draw(st.frozensets(st.integers(0, LEAVERS - 1), max_size=LEAVERS)),
                kind=draw(st.sampled_from(["round", "round", "round", "sweep"])),
            )
        )
    return steps


def allowed_before_approval(steps: Sequence[Step]) -> int:
    """What the rule lets through: rounds are disabled while the window total stays within
    the limit; the first round over it is held, and with it every later one."""
    total = 0
    for step in steps:
        if total + len(step.deleted) > LIMIT:
            return total
        total += len(step.deleted)
    return total


@dataclass
class Tally:
    examples: int = 0
    rounds: int = 0
    held: int = 0
    disabled_before_approval: int = 0
    held_rows_max: int = 0
    first_round_over_limit: int = 0
    disabled_when_first_round_over_limit: int = 0

    def line(self) -> str:
        return (
            f"{self.examples} random splits of {LEAVERS} deletions (limit {LIMIT}), "
            f"{self.rounds} rounds: {self.held} held, {self.disabled_before_approval} disabled "
            f"before approval (at most {LIMIT} per split by the rule); "
            f"{self.first_round_over_limit} splits whose first round was over the limit "
            f"disabled {self.disabled_when_first_round_over_limit} before approval"
        )


async def _mass_deletion(steps: list[Step], tally: Tally) -> None:
    async with tenant() as world:
        held_now = 0
        for step in steps:
            world.delete([world.leavers[i] for i in step.deleted])
            notified = [world.leavers[i] for i in step.notified]
            outcome = await world.round(*notified, kind=step.kind)
            held_now += outcome.held_new
            assert outcome.held_waiting == held_now
        leavers = world.numbers(world.leavers)
        held = await world.held()
        disabled = world.disabled()
        # each extension is held at most once; held and disabled split the leavers
        assert len(held) == len(set(held)) == held_now
        assert not disabled & set(held)
        assert disabled | set(held) == leavers
        assert len(disabled) == allowed_before_approval(steps) <= LIMIT
        if len(steps[0].deleted) > LIMIT:
            assert not disabled, "disabled before approval"
        tally.examples += 1
        tally.rounds += len(steps)
        tally.held += len(held)
        tally.disabled_before_approval += len(disabled)
        tally.held_rows_max = max(tally.held_rows_max, len(held))
        if len(steps[0].deleted) > LIMIT:
            tally.first_round_over_limit += 1
            tally.disabled_when_first_round_over_limit += len(disabled)

        approved = await approve_held(world.db, world.clients, actor="admin")
        assert not approved.result.failed
        assert world.disabled() == leavers
        assert not world.disabled() & world.numbers(world.stayers)
        link_id = world.clients.link.id
        assert not await list_held(world.db, link_id)
        applied = await list_held(world.db, link_id, HeldStatus.APPLIED)
        assert len(applied) == len(held)
        disables = [
            e.number for e in await list_audit(world.db, link_id, action="disable", limit=1000)
        ]
        assert sorted(disables) == sorted(leavers), "each extension disabled exactly once"


@pytest.mark.slow
def test_a_mass_deletion_in_random_rounds_is_never_disabled_past_the_limit() -> None:
    """40 deletions over random rounds, late notifications and sweeps: at most the limit is
    disabled before approval (none when the first round is over it), each extension is held
    at most once, and approving disables each held one exactly once."""
    tally = Tally()

    @settings(
        max_examples=30,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(splits())
    def check(steps: list[Step]) -> None:
        asyncio.run(_mass_deletion(steps, tally))

    check()
    print(tally.line())
    assert tally.examples >= 30
    assert tally.first_round_over_limit > 0
    assert tally.disabled_when_first_round_over_limit == 0


# --- the window, returning users --------------------------------------------------------


async def test_a_trickle_of_small_rounds_is_held_once_the_window_is_full() -> None:
    """8 disabled now and 20 more than an hour ago: 3 more in a round are held (8 + 3 > 10),
    whatever the size of the round; the old 20 are outside the 60-minute window."""
    async with tenant() as world:
        long_ago = time.time() - 61 * 60
        await _audit_disables(world, [f"9{i:02d}" for i in range(20)], at=long_ago)
        first, second = world.leavers[:8], world.leavers[8:11]
        for small in (first[:4], first[4:]):
            world.delete(small)
            outcome = await world.round()
            assert not outcome.plan.held
        assert world.disabled() == world.numbers(first)
        world.delete(second)
        outcome = await world.round()
        assert world.disabled() == world.numbers(first), "a trickle got past the brake"
        assert sorted(await world.held()) == sorted(world.numbers(second))
        why = why_held(outcome.plan.held[0])
        assert "this plan would disable 3 extensions and 8 were disabled in the last 60" in why
        world.delete(world.leavers[11:12])
        await world.round()
        assert len(await world.held()) == 4, "a later single disable was let through"


async def test_held_users_who_come_back_drop_out_of_the_held_list() -> None:
    """12 held; 2 restored in Entra: their rows are withdrawn, approving disables the 10."""
    async with tenant() as world:
        leaving = world.leavers[:12]
        world.delete(leaving)
        await world.round()
        assert len(await world.held()) == 12
        for user_id in leaving[:2]:
            world.emus.graph.directory.restore_user(user_id)
        outcome = await world.round(*leaving)  # their notifications and some late ones
        assert sorted(outcome.plan.withdrawn) == sorted(world.numbers(leaving[:2]))
        assert sorted(await world.held()) == sorted(world.numbers(leaving[2:]))
        link_id = world.clients.link.id
        withdrawn = await list_held(world.db, link_id, HeldStatus.WITHDRAWN)
        assert sorted(h.action["number"] for h in withdrawn) == sorted(world.numbers(leaving[:2]))
        assert outcome.held_waiting == 10 and not outcome.held_new
        await approve_held(world.db, world.clients, actor="admin")
        assert world.disabled() == world.numbers(leaving[2:])


async def test_approving_writes_each_held_disable_once() -> None:
    """An extension disabled on the PBX since it was held is recorded, not written again."""
    async with tenant() as world:
        world.delete(world.leavers[:11])
        await world.round()
        by_hand = world.number[world.leavers[0]]
        world.emus.pbx.state.get(by_hand).settings["disabled"] = "true"
        approved = await approve_held(world.db, world.clients, actor="admin")
        assert approved.result.applied == {"disable": 10, "already_disabled": 1}
        assert world.disabled() == world.numbers(world.leavers[:11])
        entries = await list_audit(world.db, world.clients.link.id, action="disable")
        assert sorted(e.number or "" for e in entries) == sorted(world.numbers(world.leavers[:11]))
        [noop] = [e for e in entries if e.number == by_hand]
        assert "already disabled" in noop.reason and noop.trigger == "approval"


async def _audit_disables(world: Tenant, numbers: list[str], *, at: float) -> None:
    async with world.db.atomic() as tx:
        await add_audit(
            tx,
            [
                AuditEntry(world.clients.link.id, "disable", "ok", "notification", number=n, at=at)
                for n in numbers
            ],
        )
