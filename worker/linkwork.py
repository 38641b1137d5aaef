"""Working one link's claimed events: pick the round kind, run it, settle the events."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Sequence, Set

import structlog

from store import Database, Transaction
from store.directory import get_directory_users
from store.events import (
    claim_events,
    complete_in,
    enqueue_in,
    extend_claims,
    fail_events,
    get_events,
    pending_recheck_users_in,
    release_events,
)
from store.failed_actions import ACTION_EVENT
from store.leases import release_link_lease
from store.links import get_link
from store.models import (
    DirectoryUser,
    Event,
    EventKind,
    EventStatus,
    Link,
    LinkState,
    NewEvent,
    RoundRecord,
    RoundResult,
)
from store.records import add_round, last_round
from worker import metrics
from worker.clientcache import LinkClientsCache
from worker.context import WorkerContext
from worker.errors import GraphError, SetupRequired, ThrottledError, TransientError
from worker.leasing import LeaseKeeper
from worker.linkctx import LinkClients
from worker.polling import poll_event, poll_mode
from worker.rounds import FULL, ROUND, SWEEP, RoundOutcome, RoundRequest, run_round
from worker.setuprequired import mark_setup_required, quietly
from worker.subscriptions import ensure_subscription, forget

log = structlog.get_logger("m365sync.link")

NOTIFIED_KINDS = frozenset({EventKind.NOTIFICATION, EventKind.RECHECK})
# Events whose user the round plans again: notified ones, and failed writes handed back
# by `m365sync retry-failed` (those are not rechecked when the delta does not show them).
PLANNED_KINDS = NOTIFIED_KINDS | {ACTION_EVENT}


class LinkWorker:
    def __init__(self, ctx: WorkerContext, clients: LinkClientsCache, leases: LeaseKeeper) -> None:
        self.ctx = ctx
        self.clients = clients
        self.leases = leases
        self.rounds_run = 0
        self._locks: dict[int, asyncio.Lock] = {}
        # The link's directory as the last round left it, tagged with that round's id (and
        # when, monotonic), so a round in a large tenant does not re-read every user from
        # the store. Forgotten once the link is idle (forget_idle_directories).
        self._users: dict[int, tuple[int, dict[str, DirectoryUser], float]] = {}
        # Events of a round the store failed under (the database went away): neither done
        # nor handed back. Handed back as soon as the store answers, not when the lease
        # runs out (two minutes by default).
        self._stranded: dict[int, list[int]] = {}

    async def ready(self, link_id: int) -> bool:
        """Only active links are worked; a link in Setup Required keeps its events queued."""
        link = await get_link(self.ctx.db, link_id)
        return link.state is LinkState.ACTIVE

    async def _known_users(self, link_id: int) -> dict[str, DirectoryUser]:
        """The cached directory, unless another round (another process, a failure) came
        after the one that left it; then it is read again."""
        cached = self._users.get(link_id)
        if cached is not None and cached[0] == await _last_round_id(self.ctx.db, link_id):
            return cached[1]
        self._users.pop(link_id, None)
        return await get_directory_users(self.ctx.db, link_id)

    @property
    def cached_directories(self) -> int:
        return len(self._users)

    def forget_idle_directories(self, idle_s: float) -> int:
        """Drop the cached directories of links without a round for `idle_s`; how many.

        Each user costs about 0.7 KB (bench/links.py), so 500 links of 200 users would
        hold ~70 MB between rounds that may be hours apart, and larger tenants more; the
        next round reads its link's users from the store again."""
        cutoff = time.monotonic() - idle_s
        idle = [link_id for link_id, cached in self._users.items() if cached[2] <= cutoff]
        for link_id in idle:
            del self._users[link_id]
        return len(idle)

    async def process(self, link_id: int) -> bool:
        """Work the link's due events; False if there was nothing this worker could do
        (link not active, its lease held by another worker, nothing left to claim)."""
        ctx = self.ctx
        lock = self._locks.setdefault(link_id, asyncio.Lock())
        async with lock:
            link = await get_link(ctx.db, link_id)
            if link.state is not LinkState.ACTIVE:
                return False
            if not await self.leases.acquire(link_id, link.name):
                return False
            try:
                events = await claim_events(
                    ctx.db,
                    link_id,
                    ctx.worker_id,
                    lease_s=ctx.config.lease_s,
                    now=ctx.clock(),
                    max_running_sweeps=ctx.config.max_sweeps,
                )
                if events:
                    try:
                        async with self.clients.hold(link_id):
                            await self._work_with_heartbeat(link, events)
                    except Exception:
                        self._stranded[link_id] = [e.id for e in events]
                        raise
                return bool(events)
            finally:
                await release_link_lease(ctx.db, link_id, ctx.worker_id)

    async def hand_back_stranded(self) -> int:
        """Hand back the events of rounds the store failed under; how many links had some.
        A link in a round is left alone: its events are that round's."""
        handed = 0
        for link_id, ids in list(self._stranded.items()):
            lock = self._locks.get(link_id)
            if lock is not None and lock.locked():
                continue
            released = await release_events(self.ctx.db, ids, self.ctx.worker_id)
            del self._stranded[link_id]
            handed += 1
            log.info("round.handed_back", link_id=link_id, events=released)
        return handed

    async def _work_with_heartbeat(self, link: Link, events: list[Event]) -> None:
        """Run the round while a heartbeat keeps the leases; if the heartbeat finds the
        link's lease in another worker's hands (it judged this one dead), the round stops
        at its next step rather than race the new holder."""
        work = asyncio.create_task(self._work(link, events), name=f"round-{link.id}")
        beat = asyncio.create_task(self._heartbeat(link.id, [e.id for e in events], work))
        try:
            await work
        except asyncio.CancelledError:
            lost = beat.done() and not beat.cancelled() and beat.result()
            task = asyncio.current_task()
            if not lost or (task is not None and task.cancelling()):
                raise
        finally:
            beat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beat

    async def _heartbeat(self, link_id: int, ids: list[int], work: asyncio.Task[None]) -> bool:
        """Renew the link's lease every beat and the events' claims every third of the lease.
        Returns True (after cancelling `work`) when the link's lease was lost."""
        ctx = self.ctx
        lease_s = ctx.config.lease_s
        extended_at = time.monotonic()
        while True:
            await asyncio.sleep(ctx.config.beat_s)
            try:
                if not await self.leases.renew(link_id):
                    log.error("lease.lost")
                    work.cancel()
                    return True
                if time.monotonic() - extended_at >= lease_s / 3:
                    await extend_claims(ctx.db, ids, ctx.worker_id, ctx.clock() + lease_s)
                    extended_at = time.monotonic()
            except Exception:
                # A busy database must not end the heartbeat; the next beat tries again.
                log.exception("lease.heartbeat_failed")

    async def _work(self, link: Link, events: list[Event]) -> None:
        ctx = self.ctx
        request = round_request(events)
        ids = [e.id for e in events]
        structlog.contextvars.bind_contextvars(link=link.name, round=request.kind)
        started = time.time()
        try:
            clients = await self.clients.get(link)
            await self._lifecycle(link, clients, events)

            async def on_commit(tx: Transaction, outcome: RoundOutcome) -> None:
                await complete_in(tx, ids, ctx.worker_id)
                waiting = await pending_recheck_users_in(tx, link.id)
                await enqueue_in(tx, self._rechecks(events, outcome.missing_ids, waiting))
                await enqueue_in(tx, self._gap_followup(events))
                await enqueue_in(tx, self._next_poll(link, events))

            known = await self._known_users(link.id)
            outcome = await run_round(
                ctx.db, clients, request, on_commit=on_commit, known_users=known
            )
            self._users[link.id] = (
                await _last_round_id(ctx.db, link.id),
                known,
                time.monotonic(),
            )
            self.rounds_run += 1
            await self._report(link, outcome)
        except SetupRequired as exc:
            await self._setup_required(link, ids, exc)
        except asyncio.CancelledError:
            await asyncio.shield(release_events(ctx.db, ids, ctx.worker_id))
            raise
        except Exception as exc:
            await self._failed(link, events, request, exc, started)
        finally:
            structlog.contextvars.unbind_contextvars("link", "round")

    async def _lifecycle(self, link: Link, clients: LinkClients, events: Sequence[Event]) -> None:
        """Act on lifecycle events before the round that follows them."""
        for event in events:
            if event.kind is not EventKind.LIFECYCLE:
                continue
            name = event.payload.get("lifecycleEvent")
            subscription_id = str(event.payload.get("subscriptionId", ""))
            log.info("lifecycle.received", lifecycle_event=name, subscription=subscription_id)
            async with self.ctx.subscription_lock(link.id):
                await self._lifecycle_event(link, clients, name, subscription_id)

    async def _lifecycle_event(
        self, link: Link, clients: LinkClients, name: object, subscription_id: str
    ) -> None:
        public_url = self.ctx.settings.public_url
        try:
            if name == "reauthorizationRequired":
                await clients.graph.reauthorize_subscription(subscription_id)
            elif name == "subscriptionRemoved":
                await forget(self.ctx.db, subscription_id)
                if public_url:
                    await ensure_subscription(self.ctx.db, link, clients.graph, public_url)
        except GraphError as exc:
            log.warning("lifecycle.failed", error=str(exc))
            if public_url and exc.status == 404:
                await forget(self.ctx.db, subscription_id)
                await ensure_subscription(self.ctx.db, link, clients.graph, public_url)

    def _rechecks(
        self, events: Sequence[Event], missing: frozenset[str], waiting: Set[str] = frozenset()
    ) -> list[NewEvent]:
        """Notified users the delta did not show yet (replication lag) are looked at again
        a little later, a few times, then left to the sweep.

        Graph also notifies for properties outside our $select, which the delta never
        shows: those cost a few cheap rounds (no PBX read when the delta is empty), and
        rechecks coalesce: a user with a recheck already `waiting` gets no second one."""
        delays = self.ctx.config.recheck_delays_s
        tries: dict[str, int] = {}
        for event in events:
            if event.user_id in waiting:
                continue
            if event.user_id in missing and event.kind in NOTIFIED_KINDS:
                tried = int(event.payload.get("recheck", 0))
                tries[event.user_id] = max(tries.get(event.user_id, 0), tried)
        now = self.ctx.clock()
        return [
            NewEvent(
                link_id=events[0].link_id,
                kind=EventKind.RECHECK,
                user_id=user_id,
                payload={"recheck": tried + 1},
                due_at=now + delays[tried],
            )
            for user_id, tried in sorted(tries.items())
            if tried < len(delays)
        ]

    def _gap_followup(self, events: Sequence[Event]) -> list[NewEvent]:
        """After a gap (lifecycle event, new subscription) the catch-up round may run
        before Graph's delta shows what changed during it (replication lag) and nobody
        was notified to recheck: look once more, a little later. Cheap when the delta is
        empty (no PBX read); never chained."""
        gap = any(
            e.kind is EventKind.LIFECYCLE or (e.kind is EventKind.RESYNC and e.payload.get("gap"))
            for e in events
        )
        if not gap or any(e.payload.get("followup") for e in events):
            return []
        delays = self.ctx.config.recheck_delays_s
        return [
            NewEvent(
                link_id=events[0].link_id,
                kind=EventKind.RESYNC,
                payload={"gap": True, "followup": True},
                due_at=self.ctx.clock() + (max(delays) if delays else 0.0),
            )
        ]

    def _next_poll(self, link: Link, events: Sequence[Event]) -> list[NewEvent]:
        """A round that did a poll queues the next one, in the same transaction, so a link
        always has exactly one poll waiting. A failed poll is not followed: its event is
        retried with the round's backoff (Retry-After on throttling), which is how polls
        slow down for a throttled link without touching the others."""
        if not any(e.kind is EventKind.POLL for e in events):
            return []
        mode = poll_mode(self.ctx.settings, link.settings)
        return [poll_event(link.id, mode, self.ctx.clock())]

    async def _report(self, link: Link, outcome: RoundOutcome) -> None:
        alerts = self.ctx.alerts
        labels = {"link": link.name, "kind": outcome.kind}
        metrics.ROUNDS.labels(outcome="ok", **labels).inc()
        metrics.ROUND_DURATION.labels(**labels).observe(outcome.finished_at - outcome.started_at)
        applied = outcome.applied
        if applied is not None:
            for kind, count in applied.applied.items():
                metrics.ACTIONS.labels(link=link.name, kind=kind, outcome="ok").inc(count)
            for action, _ in applied.failed:
                metrics.ACTIONS.labels(
                    link=link.name, kind=action.kind.value, outcome="failed"
                ).inc()
            if applied.numbers_taken:
                metrics.NUMBERS_TAKEN.labels(link=link.name).inc(applied.numbers_taken)
            if applied.failed:
                await quietly(alerts.actions_failed(link, applied.failed))
        conflicts = outcome.plan.by_kind("conflict")
        for action in conflicts:
            kind = action.conflict.value if action.conflict else "unknown"
            metrics.CONFLICTS.labels(link=link.name, kind=kind).inc()
        if conflicts:
            await quietly(alerts.conflicts_found(link, outcome.plan, conflicts))
        if outcome.held_new:
            # Only for disables held just now: re-planned ones are skipped as already held,
            # and one held list keeps one alert key however many rounds add to it.
            await quietly(
                alerts.disables_held(
                    link,
                    outcome.plan.held,
                    outcome.plan.disable_limit,
                    waiting=outcome.held_waiting,
                    list_id=outcome.held_first_id,
                )
            )

    async def _setup_required(self, link: Link, ids: list[int], exc: SetupRequired) -> None:
        await release_events(self.ctx.db, ids, self.ctx.worker_id)
        await mark_setup_required(self.ctx, self.clients, link, exc)

    async def _failed(
        self,
        link: Link,
        events: list[Event],
        request: RoundRequest,
        exc: Exception,
        started: float,
    ) -> None:
        ctx = self.ctx
        transient = isinstance(exc, TransientError)
        error = f"{type(exc).__name__}: {exc}"
        if transient:
            log.warning("round.retrying", error=error)
        else:
            log.exception("round.failed", error=error)
        ids = [e.id for e in events]
        retry_at = ctx.clock() + self.backoff_s(max(e.attempts for e in events), exc)
        await fail_events(
            ctx.db,
            ids,
            ctx.worker_id,
            error=error,
            retry_at=retry_at,
            max_attempts=ctx.config.max_attempts,
        )
        async with ctx.db.atomic() as tx:
            await add_round(
                tx,
                RoundRecord(
                    link_id=link.id,
                    kind=request.kind,
                    started_at=started,
                    finished_at=time.time(),
                    outcome=RoundResult.RETRY if transient else RoundResult.ERROR,
                    error=error[:2000],
                ),
            )
        metrics.ROUNDS.labels(link=link.name, kind=request.kind, outcome="error").inc()
        failed = [e for e in await get_events(ctx.db, ids) if e.status is EventStatus.FAILED]
        if failed:
            await quietly(ctx.alerts.events_failed(link, failed, error))

    def backoff_s(self, attempts: int, exc: Exception) -> float:
        config = self.ctx.config
        if isinstance(exc, ThrottledError) and exc.retry_after_s:
            return float(exc.retry_after_s)
        base = min(config.retry_max_s, config.retry_base_s * 2.0 ** max(0, attempts - 1))
        return base * (0.5 + random.random() / 2)


async def _last_round_id(db: Database, link_id: int) -> int:
    last = await last_round(db, link_id)
    return last.id if last else 0


def round_request(events: Sequence[Event]) -> RoundRequest:
    kinds = {e.kind for e in events}
    notified = frozenset(e.user_id for e in events if e.kind in PLANNED_KINDS and e.user_id)
    if EventKind.SWEEP in kinds:
        return RoundRequest(kind=SWEEP, trigger="sweep", notified_ids=notified)
    if any(e.kind is EventKind.RESYNC and e.payload.get("full") for e in events):
        return RoundRequest(kind=FULL, trigger="manual", notified_ids=notified)
    # "poll" only when nothing else asked for the round: a poll may end quietly at an
    # empty delta, a gap's resync beside it must not.
    others = sorted(str(k) for k in kinds - {EventKind.POLL}) or ["poll"]
    trigger = "notification" if notified else others[0]
    if ACTION_EVENT in kinds:
        # A refused write handed back: the PBX must be read and the user planned again,
        # even when the delta has nothing new (see rounds._nothing_changed).
        trigger = "retry"
    if EventKind.LIFECYCLE in kinds:
        trigger = "lifecycle"
    return RoundRequest(kind=ROUND, trigger=trigger, notified_ids=notified)
