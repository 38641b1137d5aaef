"""What an administrator can do to a link, shared by the command line and the admin page:
dry-run plans, the user-selection popup, Disable Unmatched Extensions, held actions.

Every operation reads the PBX fresh (its extension list is small) and the directory as the
last round left it; writes go through the same applier as the worker, with the admin as
the actor in the audit trail, under the link's lease so they never race a round.
"""

from __future__ import annotations

import contextlib
import secrets
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from store import Database
from store.directory import (
    get_bindings,
    get_directory_users,
    record_pbx_read,
)
from store.leases import acquire_link_lease, get_link_lease, release_link_lease, take_back_lease
from store.models import AuditEntry, HeldAction, HeldStatus, Link, RoundKind
from store.records import (
    add_audit,
    decide_held,
    disables_since,
    held_numbers,
    hold_actions,
    mark_held_applied,
    return_to_held,
)
from worker.adminaudit import record_held_decision
from worker.applier import ApplyContext, ApplyResult, apply_actions, pool_after
from worker.errors import PermanentError
from worker.leasing import lease_holder_text
from worker.linkctx import LinkClients
from worker.liveness import judge, this_process
from worker.planner import (
    Action,
    ActionKind,
    Plan,
    PlanInput,
    plan_disable_unmatched,
    plan_link,
    plan_reenable,
    plan_selection,
)
from worker.rounds import (
    Progress,
    RoundOutcome,
    RoundRequest,
    link_policy,
    read_pbx,
    rule_members_of,
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
    """The planner's input as of now: stored directory, fresh PBX list, bindings, and the
    group rules' memberships read fresh (as rounds do), so the popup numbers users by
    their rule."""
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
        group_members=await rule_members_of(clients, policy),
        released=pbx.released,
        other_accounts=pbx.others,
        held_numbers=await held_numbers(db, link.id),
        recent_disables=await disables_since(
            db, link.id, now - policy.disable_window_minutes * 60.0
        ),
    )


@contextlib.asynccontextmanager
async def link_lease(db: Database, link: Link, owner: str) -> AsyncIterator[None]:
    # Unique per call: two `m365sync resync` at once must not share (and free) one lease.
    # The holder is recorded so a daemon can take the lease back if this process dies.
    owner = f"{owner}:{secrets.token_hex(4)}"
    holder = this_process()
    if not await acquire_link_lease(db, link.id, owner, LEASE_S, holder=holder):
        # A daemon killed mid-round must not make the administrator wait out its lease.
        lease = await get_link_lease(db, link.id)
        if lease is not None and judge(lease, time.time()).dead:
            await take_back_lease(db, lease)
        if not await acquire_link_lease(db, link.id, owner, LEASE_S, holder=holder):
            lease = await get_link_lease(db, link.id)
            who = f" ({lease_holder_text(lease)})" if lease else ""
            raise LinkBusy(f"link {link.name!r} is busy with a round{who}; try again in a moment")
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


async def link_extension(
    db: Database, clients: LinkClients, user_id: str, number: str, *, actor: str
) -> Applied:
    """Link a user to an existing extension (an email conflict's way out) and bring its
    fields in line with the directory. A refusal comes back in the plan, nothing written."""
    async with link_lease(db, clients.link, f"{actor}:link"):
        inp = await snapshot(db, clients)
        plan = plan_link(inp, user_id, number)
        result = await _apply(db, clients, inp, plan.writes, trigger="link_extension", actor=actor)
    return Applied(plan, result)


async def reenable_extension(
    db: Database, clients: LinkClients, number: str, *, actor: str
) -> Applied:
    """Enable a disabled extension whose linked user is active, whoever disabled it."""
    async with link_lease(db, clients.link, f"{actor}:reenable"):
        inp = await snapshot(db, clients)
        plan = plan_reenable(inp, number)
        result = await _apply(db, clients, inp, plan.writes, trigger="reenable", actor=actor)
    return Applied(plan, result)


async def preview_disable_unmatched(db: Database, clients: LinkClients) -> Plan:
    return plan_disable_unmatched(await snapshot(db, clients))


async def disable_unmatched(
    db: Database, clients: LinkClients, *, actor: str, exclude: Sequence[str] = ()
) -> Applied:
    """Disable Unmatched Extensions, leaving out the numbers in `exclude` (unticked in the
    preview). Over the threshold the disables are held instead."""
    async with link_lease(db, clients.link, f"{actor}:unmatched"):
        inp = await snapshot(db, clients)
        plan = plan_disable_unmatched(inp, exclude)
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
    """Carry out held actions an administrator approved (all of them without `ids`).

    Each extension is disabled once, however many held rows name it; one the PBX shows
    disabled already (or no longer has) is not written, only recorded. Should applying fail
    half-way, the rows go back on the held list: approving again finds the ones done so far
    disabled, so nothing is applied twice.
    """
    link = clients.link
    async with link_lease(db, link, f"{actor}:approve"):
        inp = await snapshot(db, clients)
        approved = await decide_held(db, link.id, ids, HeldStatus.APPROVED, actor)
        await record_held_decision(db, link.id, approved, HeldStatus.APPROVED, actor=actor)
        try:
            actions, unchanged = _approved_actions(approved, inp)
            result = await _apply(db, clients, inp, actions, trigger="approval", actor=actor)
        except Exception:
            await return_to_held(db, [h.id for h in approved])
            raise
        async with db.atomic() as tx:
            await add_audit(tx, [_unchanged_audit(link.id, a, actor) for a in unchanged])
            await mark_held_applied(tx, [h.id for h in approved])
    if unchanged:
        result.applied[ALREADY_DISABLED] = len(unchanged)
    return Applied(Plan.of("approval", [*actions, *unchanged]), result)


ALREADY_DISABLED = "already_disabled"


def _approved_actions(
    approved: Sequence[HeldAction], inp: PlanInput
) -> tuple[list[Action], list[Action]]:
    """(to apply, already done): one action per extension."""
    todo: list[Action] = []
    unchanged: list[Action] = []
    seen: set[str | None] = set()
    for held in approved:
        action = Action.from_json(held.action).release()
        if action.number in seen:
            continue
        seen.add(action.number)
        ext = inp.extensions.get(action.number or "")
        if action.kind is ActionKind.DISABLE and (ext is None or ext.disabled):
            unchanged.append(action)
        else:
            todo.append(action)
    return todo, unchanged


def _unchanged_audit(link_id: int, action: Action, actor: str) -> AuditEntry:
    return AuditEntry(
        link_id=link_id,
        action=action.kind.value,
        outcome="ok",
        trigger="approval",
        actor=actor,
        user_id=action.user_id,
        number=action.number,
        reason=(
            f"{action.reason.value}: approved; extension {action.number} is already disabled "
            "(or gone) on the PBX, nothing to write"
        ),
    )


async def reject_held(
    db: Database, link: Link, *, actor: str, ids: Sequence[int] | None = None
) -> int:
    rejected = await decide_held(db, link.id, ids, HeldStatus.REJECTED, actor)
    await record_held_decision(db, link.id, rejected, HeldStatus.REJECTED, actor=actor)
    return len(rejected)


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
    ctx = ApplyContext(
        db,
        clients.link.id,
        clients.pbx,
        inp.extensions,
        trigger,
        actor,
        numbers=pool_after(inp, actions),
    )
    return await apply_actions(ctx, actions)
