"""Carries out a plan's writes on the PBX, recording each one as it happens.

Each applied action is followed at once by its binding change and audit entry in
one small transaction, so a crash between actions loses nothing that was written:
the next round re-plans from what the PBX and the bindings say, and every action is
idempotent (a create checks the number first, a bind by email finds the extension
created before the crash).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Protocol

import structlog

from store import Database, Transaction
from store.directory import drop_binding, put_binding, put_extensions, set_disabled_by_us
from store.failed_actions import record_failed_action, resolve_failed_actions
from store.models import AuditEntry, Binding, Extension
from store.records import add_audit
from worker.errors import PermanentError, TransientError
from worker.planner import Action, ActionKind, PlanInput, Reason
from worker.planner.numbering import NumberPool
from worker.planner.rules import DEFAULT_RULE
from worker.vodia.client import ExtensionExists

log = structlog.get_logger("m365sync.applier")

Progress = Callable[[int, int], None]

# Creates whose number the planner chose from the pool may move to the next free number
# when the PBX says it is taken; a bound user's own number (re-creating it) may not.
_RENUMBERABLE = frozenset({Reason.NEW_USER, Reason.SELECTED})
# A PBX that keeps answering "taken" (another tool creating accounts as we go) is not
# chased through the whole range.
MAX_RENUMBERS = 5


class PbxWriter(Protocol):
    """The part of the Vodia client the applier uses. It has no delete, by design."""

    async def create_extension(self, number: str, fields: Mapping[str, str]) -> Extension: ...

    async def update_extension(self, number: str, fields: Mapping[str, str]) -> Extension: ...

    async def disable(self, numbers: Iterable[str]) -> None: ...

    async def enable(self, numbers: Iterable[str]) -> None: ...


@dataclass(slots=True)
class ApplyResult:
    applied: dict[str, int] = field(default_factory=dict)
    failed: list[tuple[Action, str]] = field(default_factory=list)
    # (planned, applied): creates moved to another number because the PBX had it taken
    renumbered: list[tuple[Action, Action]] = field(default_factory=list)
    numbers_taken: int = 0  # creates the PBX refused because the number was in use

    @property
    def ok_count(self) -> int:
        return sum(self.applied.values())


@dataclass(frozen=True, slots=True)
class ApplyContext:
    db: Database
    link_id: int
    pbx: PbxWriter
    extensions: Mapping[str, Extension]
    trigger: str
    actor: str = "worker"
    concurrency: int = 8
    # Free numbers for renumbering a create whose number turned out to be taken; shared by
    # the whole batch, so a number is never given twice and a taken one never again.
    numbers: NumberPool | None = None


def pool_after(inp: PlanInput, actions: Iterable[Action]) -> NumberPool:
    """The plan's number pool with every number the plan already uses taken."""
    pool = inp.number_pool()
    for action in actions:
        if action.number:
            pool.take(action.number)
    return pool


async def apply_actions(
    ctx: ApplyContext, actions: Iterable[Action], progress: Progress | None = None
) -> ApplyResult:
    """Apply the write actions with bounded concurrency.

    A permanent failure of one action is recorded and the others go on. A transient
    failure (the PBX unreachable after its retries) stops the whole batch and is raised,
    so the round is retried later.
    """
    writes = [a for a in actions if a.writes]
    result = ApplyResult()
    if not writes:
        return result
    gate = asyncio.Semaphore(ctx.concurrency)
    done = 0

    async def run(action: Action) -> None:
        nonlocal done
        async with gate:
            await _apply_one(ctx, action, result)
        done += 1
        if progress is not None:
            progress(done, len(writes))

    try:
        async with asyncio.TaskGroup() as group:
            for action in writes:
                group.create_task(run(action))
    except BaseExceptionGroup as group_error:
        # The first transient failure cancelled the rest; the caller retries the round.
        raise _first_leaf(group_error) from None
    return result


def _first_leaf(group: BaseExceptionGroup[BaseException]) -> BaseException:
    leaves: list[BaseException] = []
    pending: list[BaseException] = [group]
    while pending:
        error = pending.pop(0)
        if isinstance(error, BaseExceptionGroup):
            pending.extend(error.exceptions)
        else:
            leaves.append(error)
    transient = [e for e in leaves if isinstance(e, TransientError)]
    return (transient or leaves)[0]


async def _apply_one(ctx: ApplyContext, action: Action, result: ApplyResult) -> None:
    planned = action
    for attempt in range(MAX_RENUMBERS + 1):
        try:
            done = await _attempt(ctx, action, result)
        except _NumberTaken as taken:
            result.numbers_taken += 1
            retry = _renumbered(ctx, action) if attempt < MAX_RENUMBERS else None
            error = str(taken.error)
            log.warning(
                "action.number_taken",
                number=action.number,
                retry_with=retry.number if retry else None,
            )
            if retry is None:
                reason = f"{error}; no number left to try"
                await _record_failure(ctx, action, result, reason, unbind=taken.unbind)
                return
            async with ctx.db.atomic() as tx:
                if taken.unbind:
                    await drop_binding(tx, ctx.link_id, str(action.user_id), action.number or "")
                reason = f"{error}; retrying with {retry.number}"
                await add_audit(tx, [_audit(ctx, action, "failed", reason)])
            action = retry
            continue
        if done and action is not planned:
            result.renumbered.append((planned, action))
        return


class _NumberTaken(Exception):
    def __init__(self, error: ExtensionExists, *, unbind: bool) -> None:
        super().__init__(str(error))
        self.error = error
        self.unbind = unbind  # the binding stored before the create must go


def _renumbered(ctx: ApplyContext, action: Action) -> Action | None:
    if ctx.numbers is None:
        return None
    number = ctx.numbers.next_free()
    if number is None:
        return None
    message = f"new extension {number} ({action.number} was taken on the PBX)"
    return replace(action, number=number, message=message)


async def _attempt(ctx: ApplyContext, action: Action, result: ApplyResult) -> bool:
    """One write and its record; False when it failed for good. Raises _NumberTaken for a
    create that may move on to another number."""
    number = action.number or ""
    before = ctx.extensions.get(number)
    creating = action.kind is ActionKind.CREATE and bool(action.user_id)
    if creating:
        # Bind first: if we die between Vodia's addacc and the field write, the next
        # round finds a bound extension with empty fields and fills them in, instead of
        # leaving an orphan and creating the user a second extension elsewhere.
        async with ctx.db.atomic() as tx:
            await put_binding(
                tx, ctx.link_id, Binding(str(action.user_id), number, bound_at=time.time())
            )
    try:
        after = await _write(ctx, action, before)
    except TransientError:
        raise
    except PermanentError as exc:
        unbind = creating and before is None
        if (
            isinstance(exc, ExtensionExists)
            and creating
            and action.reason in _RENUMBERABLE
            # The shared pool knows only the link's ranges: a group rule's create fails
            # here and the next round numbers it again inside the rule's own range.
            and action.rule in (None, DEFAULT_RULE)
            and ctx.numbers is not None
        ):
            ctx.numbers.take(number)
            raise _NumberTaken(exc, unbind=unbind) from None
        await _record_failure(ctx, action, result, str(exc), unbind=unbind)
        return False
    async with ctx.db.atomic() as tx:
        await _record(ctx, tx, action, after)
        await add_audit(tx, [_audit(ctx, action, "ok", action.message)])
        await resolve_failed_actions(
            tx, ctx.link_id, user_id=action.user_id, number=action.number, now=time.time()
        )
    result.applied[action.kind.value] = result.applied.get(action.kind.value, 0) + 1
    return True


async def _record_failure(
    ctx: ApplyContext, action: Action, result: ApplyResult, reason: str, *, unbind: bool
) -> None:
    """A write that failed for good: in the result, the log, the audit trail and the
    failed events, never only in a round's statistics. `unbind` drops the binding stored
    before a create that did not happen (no cool-off: the number was never used)."""
    result.failed.append((action, reason))
    log.warning("action.failed", action=action.kind.value, number=action.number, error=reason)
    who = action.email or action.user_id
    summary = f"{action.kind.value} {action.number or '-'}{f' for {who}' if who else ''}: {reason}"
    async with ctx.db.atomic() as tx:
        if unbind:
            await drop_binding(tx, ctx.link_id, str(action.user_id), action.number or "")
        await add_audit(tx, [_audit(ctx, action, "failed", reason)])
        await record_failed_action(
            tx,
            ctx.link_id,
            user_id=action.user_id,
            number=action.number,
            action=action.kind.value,
            error=summary,
            now=time.time(),
        )


async def _write(ctx: ApplyContext, action: Action, before: Extension | None) -> Extension | None:
    number = action.number or ""
    values = action.new_values()
    if action.kind is ActionKind.CREATE:
        return await ctx.pbx.create_extension(number, values)
    if action.kind in (ActionKind.BIND, ActionKind.UPDATE):
        return await ctx.pbx.update_extension(number, values) if values else before
    if action.kind is ActionKind.ENABLE:
        await ctx.pbx.enable([number])
        after = await ctx.pbx.update_extension(number, values) if values else before
        return replace(after, disabled=False) if after else None
    if action.kind is ActionKind.DISABLE:
        await ctx.pbx.disable([number])
        return replace(before, disabled=True) if before else None
    raise ValueError(f"not a write action: {action.kind}")


async def _record(
    ctx: ApplyContext, tx: Transaction, action: Action, after: Extension | None
) -> None:
    number = action.number or ""
    if after is not None:
        await put_extensions(tx, ctx.link_id, [after])
    if action.kind in (ActionKind.CREATE, ActionKind.BIND) and action.user_id:
        await put_binding(
            tx, ctx.link_id, Binding(user_id=action.user_id, number=number, bound_at=time.time())
        )
    elif action.kind is ActionKind.ENABLE:
        await set_disabled_by_us(tx, ctx.link_id, [number], False)
    elif action.kind is ActionKind.DISABLE:
        await set_disabled_by_us(tx, ctx.link_id, [number], True)


def _audit(ctx: ApplyContext, action: Action, outcome: str, reason: str) -> AuditEntry:
    changes = action.change_map()
    before = {k: old for k, (old, _) in changes.items()}
    after = {k: new for k, (_, new) in changes.items()}
    if action.kind in (ActionKind.ENABLE, ActionKind.DISABLE):
        before["disabled"] = "true" if action.kind is ActionKind.ENABLE else "false"
        after["disabled"] = "false" if action.kind is ActionKind.ENABLE else "true"
    return AuditEntry(
        link_id=ctx.link_id,
        action=action.kind.value,
        outcome=outcome,
        trigger=ctx.trigger,
        actor=ctx.actor,
        user_id=action.user_id,
        number=action.number,
        before=before,
        after=after,
        reason=f"{action.reason.value}: {reason}" if reason else action.reason.value,
    )
