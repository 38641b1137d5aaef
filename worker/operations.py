"""What an administrator can do to a link, shared by the command line and the admin page:
dry-run plans, the user-selection popup, Disable Unmatched Extensions, held actions.

Every operation reads the PBX fresh (its extension list is small) and the directory as the
last round left it; writes go through the same applier as the worker, with the admin as
the actor in the audit trail, under the link's lease so they never race a round.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from store import Database
from store.directory import (
    get_bindings,
    get_directory_users,
    record_pbx_read,
)
from store.leases import acquire_link_lease, release_link_lease
from store.models import HeldStatus, Link, RoundKind
from store.records import decide_held, hold_actions, mark_held_applied
from worker.applier import ApplyContext, ApplyResult, apply_actions
from worker.errors import PermanentError
from worker.linkctx import LinkClients
from worker.planner import (
    Action,
    Plan,
    PlanInput,
    plan_disable_unmatched,
    plan_selection,
)
from worker.rounds import (
    Progress,
    RoundOutcome,
    RoundRequest,
    link_policy,
    read_pbx,
    run_round,
    scope_of,
)

LEASE_S = 600.0


class LinkBusy(PermanentError):
    """Another process is running a round for this link right now."""


@dataclass(frozen=True, slots=True)
class Applied:
    plan: Plan
    result: ApplyResult


async def snapshot(db: Database, clients: LinkClients) -> PlanInput:
    """The planner's input as of now: stored directory, fresh PBX list, bindings."""
    link = clients.link
    policy = link_policy(link.settings)
    now = time.time()
    pbx = await read_pbx(db, clients, now=now, cells=False)
    return PlanInput(
        users=await get_directory_users(db, link.id),
        extensions=pbx.extensions,
        bindings=await get_bindings(db, link.id),
        policy=policy,
        now=now,
        in_scope_ids=await scope_of(clients, policy),
        released=pbx.released,
    )


@contextlib.asynccontextmanager
async def link_lease(db: Database, link: Link, owner: str) -> AsyncIterator[None]:
    if not await acquire_link_lease(db, link.id, owner, LEASE_S):
        raise LinkBusy(f"link {link.name!r} is busy with a round; try again in a moment")
    try:
        yield
    finally:
        await release_link_lease(db, link.id, owner)


async def dry_run(
    db: Database, clients: LinkClients, *, full: bool = False, progress: Progress | None = None
) -> RoundOutcome:
    """The plan a round would carry out now; nothing is written anywhere."""
    kind = RoundKind.FULL if full else RoundKind.ROUND
    request = RoundRequest(kind=kind, trigger="manual", dry_run=True)
    return await run_round(db, clients, request, progress=progress)


async def resync(
    db: Database,
    clients: LinkClients,
    *,
    full: bool = False,
    sweep: bool = False,
    actor: str = "cli",
    progress: Progress | None = None,
) -> RoundOutcome:
    kind = RoundKind.SWEEP if sweep else RoundKind.FULL if full else RoundKind.ROUND
    request = RoundRequest(kind=kind, trigger="manual", actor=actor)
    async with link_lease(db, clients.link, f"{actor}:resync"):
        return await run_round(db, clients, request, progress=progress)


async def create_selected(
    db: Database,
    clients: LinkClients,
    chosen: Sequence[tuple[str, str | None]],
    *,
    actor: str,
) -> Applied:
    """Create Extensions: plan the selection again against a fresh PBX read and apply it.
    Conflicts are never written; they come back in the plan for the page to show."""
    async with link_lease(db, clients.link, f"{actor}:selection"):
        inp = await snapshot(db, clients)
        plan = plan_selection(inp, chosen)
        result = await _apply(db, clients, inp, plan.writes, trigger="selection", actor=actor)
    return Applied(plan, result)


async def preview_disable_unmatched(db: Database, clients: LinkClients) -> Plan:
    return plan_disable_unmatched(await snapshot(db, clients))


async def disable_unmatched(db: Database, clients: LinkClients, *, actor: str) -> Applied:
    """Disable Unmatched Extensions. Over the threshold the disables are held instead."""
    async with link_lease(db, clients.link, f"{actor}:unmatched"):
        inp = await snapshot(db, clients)
        plan = plan_disable_unmatched(inp)
        if plan.held:
            async with db.atomic() as tx:
                await hold_actions(
                    tx,
                    clients.link.id,
                    [a.to_json() for a in plan.held],
                    "Disable Unmatched Extensions over the disable threshold",
                )
        result = await _apply(
            db, clients, inp, plan.writes, trigger="disable_unmatched", actor=actor
        )
    return Applied(plan, result)


async def approve_held(
    db: Database, clients: LinkClients, *, actor: str, ids: Sequence[int] | None = None
) -> Applied:
    """Carry out held actions an administrator approved (all of them without `ids`)."""
    link = clients.link
    async with link_lease(db, link, f"{actor}:approve"):
        approved = await decide_held(db, link.id, ids, HeldStatus.APPROVED, actor)
        actions = [Action.from_json(h.action).release() for h in approved]
        inp = await snapshot(db, clients)
        result = await _apply(db, clients, inp, actions, trigger="approval", actor=actor)
        async with db.atomic() as tx:
            await mark_held_applied(tx, [h.id for h in approved])
    return Applied(Plan.of("approval", actions), result)


async def reject_held(
    db: Database, link: Link, *, actor: str, ids: Sequence[int] | None = None
) -> int:
    return len(await decide_held(db, link.id, ids, HeldStatus.REJECTED, actor))


async def _apply(
    db: Database,
    clients: LinkClients,
    inp: PlanInput,
    actions: Sequence[Action],
    *,
    trigger: str,
    actor: str,
) -> ApplyResult:
    async with db.atomic() as tx:
        await record_pbx_read(tx, clients.link.id, inp.extensions.values(), inp.now)
    ctx = ApplyContext(db, clients.link.id, clients.pbx, inp.extensions, trigger, actor)
    return await apply_actions(ctx, actions)
