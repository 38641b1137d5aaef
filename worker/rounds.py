"""One round: read what changed in Graph, re-read the PBX, plan, apply, record.

The deltaLink moves forward only in the transaction that records the round (and, via
`on_commit`, completes the events that asked for it). A crash anywhere before that
re-runs the round from the old deltaLink; every action is idempotent.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import structlog

from store import Database, Transaction
from store.directory import (
    get_bindings,
    get_delta_link,
    get_directory_users,
    get_extensions,
    get_released_numbers,
    put_directory_users,
    record_pbx_read,
    set_delta_link,
)
from store.failed_actions import failed_action_users
from store.models import DirectoryUser, Extension, Removal, RoundKind, RoundRecord, RoundResult
from store.records import (
    add_round,
    disables_since,
    held_episode,
    held_numbers,
    hold_actions,
    last_round,
    withdraw_held,
)
from worker.applier import ApplyContext, ApplyResult, apply_actions, pool_after
from worker.applier_hunts import HuntResult, apply_hunts
from worker.conflictaudit import record_new_conflicts
from worker.directory import merge_item, user_id_of
from worker.errors import GraphError, PageTokenExpired, PermanentError, ResyncRequired
from worker.linkctx import LinkClients
from worker.linksettings import link_policy_of
from worker.pbx_signin import sync_ms_signin
from worker.pbxlist import complete_list
from worker.permissions import group_permission_missing, is_permission_denied
from worker.planner import (
    Plan,
    PlanInput,
    Policy,
    PolicyError,
    plan_round,
    plan_sweep,
    why_held,
)

log = structlog.get_logger("m365sync.round")

ROUND, SWEEP, FULL = RoundKind.ROUND, RoundKind.SWEEP, RoundKind.FULL
# Triggers of a round that may end at an empty delta without reading the PBX.
QUIET_TRIGGERS = frozenset({"notification", "poll"})

OnCommit = Callable[[Transaction, "RoundOutcome"], Awaitable[None]]

# How often one round starts its delta read again after a skip token expired mid-round;
# past that the round fails as transient and the event is retried later.
PAGE_TOKEN_RESTARTS = 3


class Progress:
    """Hooks for a progress display; the defaults do nothing."""

    def pages(self, pages: int, users: int) -> None:
        """Called after each delta page."""

    def applying(self, done: int, total: int) -> None:
        """Called after each applied action."""


@dataclass(frozen=True, slots=True)
class RoundRequest:
    kind: RoundKind = RoundKind.ROUND
    trigger: str = "notification"
    notified_ids: frozenset[str] = frozenset()
    dry_run: bool = False
    actor: str = "worker"


@dataclass(slots=True)
class RoundOutcome:
    kind: RoundKind
    plan: Plan
    applied: ApplyResult | None
    missing_ids: frozenset[str]
    pages: int = 0
    users_changed: int = 0
    resynced: bool = False
    started_at: float = 0.0
    finished_at: float = 0.0
    stats: dict[str, Any] = field(default_factory=dict)
    pbx_read: bool = True
    held_new: int = 0  # disables this round put on the held list
    held_waiting: int = 0  # disables on the held list once the round committed
    held_first_id: int = 0  # the oldest of them: one id per held list, for its alert
    hunts: HuntResult | None = None  # hunt groups written after the plan (group rules)
    ms_signin: str = ""  # the PBX's "Sign in with Microsoft" once applied (pbx_signin.py)


@dataclass(slots=True)
class _DeltaRead:
    changed: dict[str, DirectoryUser]
    delta_link: str
    pages: int
    full: bool
    resynced: bool


def link_policy(settings: Mapping[str, Any]) -> Policy:
    try:
        return link_policy_of(settings)
    except PolicyError as exc:
        raise PermanentError(f"the link's settings are invalid: {exc}") from exc


async def run_round(
    db: Database,
    clients: LinkClients,
    request: RoundRequest,
    *,
    progress: Progress | None = None,
    on_commit: OnCommit | None = None,
    known_users: dict[str, DirectoryUser] | None = None,
) -> RoundOutcome:
    """Run one round (or sweep, or full round) for the clients' link."""
    progress = progress or Progress()
    link = clients.link
    started = time.time()
    policy = link_policy(link.settings)
    known = known_users if known_users is not None else await get_directory_users(db, link.id)
    stored_link = None if request.kind == FULL else await get_delta_link(db, link.id)
    read = await _read_delta(clients, stored_link, known, started, progress)
    bindings = await get_bindings(db, link.id)
    complete = _directory_complete(read, known, bindings_exist=bool(bindings))
    if read.full and complete:
        _mark_absent_as_deleted(read, known, started)
    if _nothing_changed(request, read):
        return await _quiet_round(db, clients, request, read, started, on_commit)
    users = {**known, **read.changed}
    sweep = request.kind == SWEEP
    pbx = await read_pbx(db, clients, now=started, cells=sweep)
    extensions = pbx.extensions
    inp = PlanInput(
        users=users,
        extensions=extensions,
        bindings=bindings,
        policy=policy,
        now=started,
        in_scope_ids=await scope_of(clients, policy),
        group_members=await rule_members_of(clients, policy),
        released=pbx.released,
        directory_complete=complete,
        other_accounts=pbx.others,
        held_numbers=await held_numbers(db, link.id),
        recent_disables=await disables_since(
            db, link.id, started - policy.disable_window_minutes * 60.0
        ),
    )
    changed_ids = set(read.changed) | set(request.notified_ids)
    if request.trigger == "manual":
        # An administrator's resync (or its dry run) tries again what the PBX refused.
        changed_ids.update(await failed_action_users(db, link.id))
    # Planning a large tenant is seconds of CPU: a thread lets the event loop keep
    # answering notifications between the planner's GIL slices.
    if sweep:
        plan = await asyncio.to_thread(plan_sweep, inp)
    else:
        plan = await asyncio.to_thread(plan_round, inp, sorted(changed_ids))
    outcome = RoundOutcome(
        kind=request.kind,
        plan=plan,
        applied=None,
        missing_ids=frozenset(request.notified_ids - set(read.changed)),
        pages=read.pages,
        users_changed=len(read.changed),
        resynced=read.resynced,
        started_at=started,
    )
    if request.dry_run:
        outcome.finished_at = time.time()
        return outcome
    async with db.atomic() as tx:
        # The PBX as just read (both lists are complete, in rounds and sweeps), before we
        # change it; the applier updates it per action.
        await record_pbx_read(tx, link.id, extensions.values(), started)
    ctx = ApplyContext(
        db,
        link.id,
        clients.pbx,
        extensions,
        request.trigger,
        request.actor,
        numbers=pool_after(inp, plan.actions),
    )
    outcome.applied = await apply_actions(ctx, plan.writes, progress.applying)
    if plan.hunts:
        outcome.hunts = await apply_hunts(
            db, link.id, clients.pbx, plan.hunts, outcome.applied, trigger=request.trigger
        )
    if sweep or policy.ms_signin != "keep":
        # Only sweeps read a switch the link keeps as it is: rounds stay at their requests.
        outcome.ms_signin = await sync_ms_signin(clients.pbx, policy.ms_signin)
    outcome.finished_at = time.time()
    outcome.stats = _stats(outcome)
    async with db.atomic() as tx:
        await put_directory_users(tx, link.id, read.changed.values())
        await set_delta_link(tx, link.id, read.delta_link)
        # The held list changes with the deltaLink: a round that dies before this point is
        # planned again from the old deltaLink and holds (and alerts) the same disables.
        await _update_held(tx, link.id, outcome)
        await add_round(
            tx,
            RoundRecord(
                link_id=link.id,
                kind=request.kind,
                started_at=started,
                finished_at=outcome.finished_at,
                outcome=RoundResult.PARTIAL if outcome.applied.failed else RoundResult.OK,
                stats=outcome.stats,
            ),
        )
        if on_commit is not None:
            await on_commit(tx, outcome)
    # After the round's commit: a crash before this line re-plans and records them then.
    await record_new_conflicts(
        db, link.id, outcome.plan.by_kind("conflict"), trigger=request.trigger
    )
    if known_users is not None:
        known_users.update(read.changed)
    log.info("round.finished", link=link.name, **outcome.stats)
    return outcome


def _nothing_changed(request: RoundRequest, read: _DeltaRead) -> bool:
    """An incremental round of notifications or a poll whose delta is empty has nothing new
    to plan: notifications for properties outside our $select, or not yet replicated, and
    the polls of a quiet tenant end here, without reading the whole PBX. Sweeps, full
    rounds, an administrator's resync and the retry of a refused write always read it and
    plan."""
    return (
        request.kind == ROUND
        and request.trigger in QUIET_TRIGGERS
        and not read.full
        and not read.changed
    )


async def _quiet_round(
    db: Database,
    clients: LinkClients,
    request: RoundRequest,
    read: _DeltaRead,
    started: float,
    on_commit: OnCommit | None,
) -> RoundOutcome:
    outcome = RoundOutcome(
        kind=request.kind,
        plan=Plan.of(request.kind, ()),
        applied=ApplyResult(),
        missing_ids=request.notified_ids,
        pages=read.pages,
        started_at=started,
        pbx_read=False,
    )
    outcome.finished_at = time.time()
    if request.dry_run:
        return outcome
    outcome.stats = _stats(outcome)
    record = request.trigger != "poll" or await _last_round_failed(db, clients.link.id)
    async with db.atomic() as tx:
        await set_delta_link(tx, clients.link.id, read.delta_link)
        # Nothing is held or withdrawn here, but the outcome still reports the held list.
        outcome.held_waiting, outcome.held_first_id = await held_episode(tx, clients.link.id)
        # A quiet poll is the daemon's own timer finding nothing: recording each one would
        # grow `rounds` by a row a minute per link forever. Its event's done_at says when
        # the link last polled (status, /metrics). Only the first after a failed round is
        # recorded, so the link's last round says it recovered.
        if record:
            await add_round(
                tx,
                RoundRecord(
                    link_id=clients.link.id,
                    kind=request.kind,
                    started_at=started,
                    finished_at=outcome.finished_at,
                    outcome=RoundResult.OK,
                    stats=outcome.stats,
                ),
            )
        if on_commit is not None:
            await on_commit(tx, outcome)
    log.info("round.finished", link=clients.link.name, **outcome.stats)
    return outcome


async def _last_round_failed(db: Database, link_id: int) -> bool:
    last = await last_round(db, link_id)
    return last is not None and last.outcome in (RoundResult.ERROR, RoundResult.RETRY)


async def _update_held(tx: Transaction, link_id: int, outcome: RoundOutcome) -> None:
    plan = outcome.plan
    if plan.held:
        why = why_held(plan.held[0]) or "over the disable threshold"
        outcome.held_new = await hold_actions(tx, link_id, [a.to_json() for a in plan.held], why)
    if plan.withdrawn:
        withdrawn = await withdraw_held(tx, link_id, plan.withdrawn)
        if withdrawn:
            log.info("round.held_withdrawn", numbers=list(plan.withdrawn))
    outcome.held_waiting, outcome.held_first_id = await held_episode(tx, link_id)
    if outcome.held_new:
        log.warning("round.disables_held", held_now=outcome.held_new, waiting=outcome.held_waiting)


async def _read_delta(
    clients: LinkClients,
    delta_link: str | None,
    known: Mapping[str, DirectoryUser],
    now: float,
    progress: Progress,
) -> _DeltaRead:
    try:
        return await _read_delta_restarting(clients, delta_link, known, now, progress)
    except ResyncRequired as exc:
        if delta_link is None:
            raise
        log.warning("round.delta_state_lost", link=clients.link.name, error=str(exc))
        read = await _read_delta_restarting(clients, None, known, now, progress)
        read.resynced = True
        return read


async def _read_delta_restarting(
    clients: LinkClients,
    delta_link: str | None,
    known: Mapping[str, DirectoryUser],
    now: float,
    progress: Progress,
) -> _DeltaRead:
    """A read that starts again from the same (stored) deltaLink when a skip token expires
    mid-round; the pages already read are dropped, nothing of them was stored."""
    for restart in range(PAGE_TOKEN_RESTARTS + 1):
        try:
            return await _read_delta_once(clients, delta_link, known, now, progress)
        except PageTokenExpired as exc:
            if restart == PAGE_TOKEN_RESTARTS:
                raise
            log.warning(
                "round.page_token_expired",
                link=clients.link.name,
                restart=restart + 1,
                error=str(exc),
            )
    raise AssertionError("unreachable")


async def _read_delta_once(
    clients: LinkClients,
    delta_link: str | None,
    known: Mapping[str, DirectoryUser],
    now: float,
    progress: Progress,
) -> _DeltaRead:
    changed: dict[str, DirectoryUser] = {}
    round_ = clients.graph.delta_round(delta_link)
    async for page in round_:
        for item in page:
            user_id = user_id_of(item)
            if user_id is None:
                continue
            merged = merge_item(changed.get(user_id) or known.get(user_id), item, now)
            if merged is not None:
                changed[user_id] = merged
        progress.pages(round_.pages_read, len(changed))
    return _DeltaRead(changed, round_.delta_link, round_.pages_read, delta_link is None, False)


def _directory_complete(read: _DeltaRead, known: Mapping[str, Any], bindings_exist: bool) -> bool:
    # A full read that finds nobody while we have bindings is a broken read (wrong
    # tenant, missing permission), not an empty company: never disable on it.
    return not (read.full and not read.changed and (known or bindings_exist))


def _mark_absent_as_deleted(
    read: _DeltaRead, known: Mapping[str, DirectoryUser], now: float
) -> None:
    """After a complete full round, users we knew that it did not return are gone."""
    for user_id, user in known.items():
        if user_id not in read.changed and user.removed is not Removal.HARD:
            read.changed[user_id] = replace(user, removed=Removal.HARD, updated_at=now)


@dataclass(frozen=True, slots=True)
class PbxRead:
    extensions: dict[str, Extension]
    released: dict[str, float]  # number -> when it was freed, those gone just now included
    others: dict[str, str]  # number -> usertype of every other PBX account: all taken


async def read_pbx(db: Database, clients: LinkClients, *, now: float, cells: bool) -> PbxRead:
    """The PBX's extensions now, the numbers its other accounts hold, and the numbers in
    their cool-off.

    Both list endpoints together are complete, so a cached number missing from them was
    freed on the PBX since the last read; it counts as released from `now` at once, so this
    very plan cannot hand it out. No list carries the cell number: rounds keep the cached
    ones, sweeps (`cells`) read every extension's. A list that shrank beyond belief is
    read again and checked first (`pbxlist.complete_list`)."""
    accounts = await clients.pbx.list_accounts(with_cell=cells)
    cached = await get_extensions(db, clients.link.id)
    listed = await complete_list(clients.pbx, cached.keys(), accounts.extensions, with_cell=cells)
    extensions = {
        e.number: e if cells or e.number not in cached else replace(e, cell=cached[e.number].cell)
        for e in listed
    }
    released = dict(await get_released_numbers(db, clients.link.id))
    released.update((number, now) for number in cached if number not in extensions)
    return PbxRead(extensions, released, accounts.others)


async def scope_of(clients: LinkClients, policy: Policy) -> frozenset[str] | None:
    if policy.scope != "groups":
        return None
    members: set[str] = set()
    try:
        for group_id in policy.group_ids:
            async for member_id in clients.graph.iter_transitive_member_ids(group_id):
                members.add(member_id.lower())
    except GraphError as exc:
        if is_permission_denied(exc):
            # Not a passing failure: every round would meet it. Setup Required shows the
            # admin (page, `status`, alert) which permission to grant.
            raise group_permission_missing(clients.link) from exc
        # Unknown scope: the planner creates, binds and disables nobody for scope reasons.
        log.warning("round.group_scope_unreadable", link=clients.link.name, error=str(exc))
        return None
    return frozenset(members)


async def rule_members_of(clients: LinkClients, policy: Policy) -> dict[str, frozenset[str]] | None:
    """The transitive members of every group a group rule names; None if a read failed
    (the planner then creates nobody and leaves the hunt groups alone)."""
    members: dict[str, frozenset[str]] = {}
    try:
        for rule in policy.group_rules:
            if rule.group_id not in members:
                ids = [
                    m.lower() async for m in clients.graph.iter_transitive_member_ids(rule.group_id)
                ]
                members[rule.group_id] = frozenset(ids)
    except GraphError as exc:
        if is_permission_denied(exc):
            raise group_permission_missing(clients.link) from exc
        log.warning("round.group_rules_unreadable", link=clients.link.name, error=str(exc))
        return None
    return members


def _stats(outcome: RoundOutcome) -> dict[str, Any]:
    applied = outcome.applied
    conflicts = [
        {
            "conflict": a.conflict.value if a.conflict else None,
            "user_id": a.user_id,
            "email": a.email,
            "number": a.number,
            "message": a.message,
        }
        for a in outcome.plan.by_kind("conflict")
    ]
    return {
        "kind": outcome.kind,
        "pages": outcome.pages,
        "users_changed": outcome.users_changed,
        "planned": outcome.plan.counts(),
        "applied": dict(applied.applied) if applied else {},
        "failed": [
            {"action": a.kind.value, "number": a.number, "user_id": a.user_id, "error": err}
            for a, err in (applied.failed if applied else [])
        ][:100],
        "renumbered": [
            {"user_id": planned.user_id, "planned": planned.number, "number": done.number}
            for planned, done in (applied.renumbered if applied else [])
        ][:100],
        "numbers_taken": applied.numbers_taken if applied else 0,
        "ms_signin": outcome.ms_signin or None,
        "hunts_changed": outcome.hunts.changed if outcome.hunts else [],
        "hunts_failed": [
            {"number": n, "error": err}
            for n, err in (outcome.hunts.failed if outcome.hunts else [])
        ],
        "conflicts": conflicts[:100],
        "missing": sorted(outcome.missing_ids)[:100],
        "resynced": outcome.resynced,
        "pbx_read": outcome.pbx_read,
        "duration_s": round(outcome.finished_at - outcome.started_at, 3),
    }
