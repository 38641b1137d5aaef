"""Working one link's claimed events: pick the round kind, run it, settle the events."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Awaitable, Callable, Sequence, Set
from typing import TYPE_CHECKING

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
from store.links import get_link, set_link_state
from store.models import (
    DirectoryUser,
    Event,
    EventStatus,
    Link,
    LinkState,
    NewEvent,
    RoundRecord,
)
from store.records import add_round, last_round
from worker import metrics
from worker.errors import GraphError, SetupRequired, ThrottledError, TransientError
from worker.linkctx import LinkClients
from worker.rounds import FULL, ROUND, SWEEP, RoundOutcome, RoundRequest, run_round
from worker.subscriptions import ensure_subscription, forget

if TYPE_CHECKING:
    from worker.engine import Engine

log = structlog.get_logger("m365sync.link")

NOTIFIED_KINDS = frozenset({"notification", "recheck"})
# Events whose user the round plans again: notified ones, and failed writes handed back
# by `m365sync retry-failed` (those are not rechecked when the delta does not show them).
PLANNED_KINDS = NOTIFIED_KINDS | {ACTION_EVENT}


class LinkWorker:
    def __init__(self, engine: Engine, clients_factory: Callable[..., Awaitable[LinkClients]]):
        self.engine = engine
        self._factory = clients_factory
        self._clients: dict[int, tuple[float, LinkClients]] = {}
        self._locks: dict[int, asyncio.Lock] = {}
        # The link's directory as the last round left it, tagged with that round's id, so
        # a round in a large tenant does not re-read every user from SQLite.
        self._users: dict[int, tuple[int, dict[str, DirectoryUser]]] = {}

    async def ready(self, link_id: int) -> bool:
        """Only active links are worked; a link in Setup Required keeps its events queued."""
        link = await get_link(self.engine.db, link_id)
        return link.state is LinkState.ACTIVE

    async def clients(self, link: Link) -> LinkClients:
        cached = self._clients.get(link.id)
        if cached is not None and cached[0] == link.updated_at:
            return cached[1]
        if cached is not None:
            await cached[1].close()
        clients = await self._factory(self.engine.db, link, self.engine.settings)
        self._clients[link.id] = (link.updated_at, clients)
        return clients

    async def _known_users(self, link_id: int) -> dict[str, DirectoryUser]:
        """The cached directory, unless another round (another process, a failure) came
        after the one that left it; then it is read again."""
        cached = self._users.get(link_id)
        if cached is not None and cached[0] == await _last_round_id(self.engine.db, link_id):
            return cached[1]
        self._users.pop(link_id, None)
        return await get_directory_users(self.engine.db, link_id)

    async def drop_clients(self, link_id: int) -> None:
        cached = self._clients.pop(link_id, None)
        if cached is not None:
            await cached[1].close()

    async def close(self) -> None:
        for link_id in list(self._clients):
            await self.drop_clients(link_id)

    async def process(self, link_id: int) -> bool:
        """Work the link's due events; False if there was nothing this worker could do
        (link not active, its lease held by another worker, nothing left to claim)."""
        engine = self.engine
        lock = self._locks.setdefault(link_id, asyncio.Lock())
        async with lock:
            link = await get_link(engine.db, link_id)
            if link.state is not LinkState.ACTIVE:
                return False
            if not await engine.leases.acquire(link_id, link.name):
                return False
            try:
                events = await claim_events(
                    engine.db,
                    link_id,
                    engine.worker_id,
                    lease_s=engine.config.lease_s,
                    now=engine.clock(),
                )
                if events:
                    await self._work_with_heartbeat(link, events)
                return bool(events)
            finally:
                await release_link_lease(engine.db, link_id, engine.worker_id)

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
        engine = self.engine
        lease_s = engine.config.lease_s
        extended_at = time.monotonic()
        while True:
            await asyncio.sleep(engine.config.beat_s)
            try:
                if not await engine.leases.renew(link_id):
                    log.error("link lease lost to another worker; stopping this round")
                    work.cancel()
                    return True
                if time.monotonic() - extended_at >= lease_s / 3:
                    await extend_claims(engine.db, ids, engine.worker_id, engine.clock() + lease_s)
                    extended_at = time.monotonic()
            except Exception:
                # A busy database must not end the heartbeat; the next beat tries again.
                log.exception("lease heartbeat failed")

    async def _work(self, link: Link, events: list[Event]) -> None:
        engine = self.engine
        request = round_request(events)
        ids = [e.id for e in events]
        structlog.contextvars.bind_contextvars(link=link.name, round=request.kind)
        started = time.time()
        try:
            clients = await self.clients(link)
            await self._lifecycle(link, clients, events)

            async def on_commit(tx: Transaction, outcome: RoundOutcome) -> None:
                await complete_in(tx, ids, engine.worker_id)
                waiting = await pending_recheck_users_in(tx, link.id)
                await enqueue_in(tx, self._rechecks(events, outcome.missing_ids, waiting))
                await enqueue_in(tx, self._gap_followup(events))

            known = await self._known_users(link.id)
            outcome = await run_round(
                engine.db, clients, request, on_commit=on_commit, known_users=known
            )
            self._users[link.id] = (await _last_round_id(engine.db, link.id), known)
            engine.rounds_run += 1
            await self._report(link, outcome)
        except SetupRequired as exc:
            await self._setup_required(link, ids, exc)
        except asyncio.CancelledError:
            await asyncio.shield(release_events(engine.db, ids, engine.worker_id))
            raise
        except Exception as exc:
            await self._failed(link, events, request, exc, started)
        finally:
            structlog.contextvars.unbind_contextvars("link", "round")

    async def _lifecycle(self, link: Link, clients: LinkClients, events: Sequence[Event]) -> None:
        """Act on lifecycle events before the round that follows them."""
        public_url = self.engine.settings.public_url
        for event in events:
            if event.kind != "lifecycle":
                continue
            name = event.payload.get("lifecycleEvent")
            subscription_id = str(event.payload.get("subscriptionId", ""))
            log.info("lifecycle event", lifecycle_event=name, subscription=subscription_id)
            try:
                if name == "reauthorizationRequired":
                    await clients.graph.reauthorize_subscription(subscription_id)
                elif name == "subscriptionRemoved":
                    await forget(self.engine.db, subscription_id)
                    if public_url:
                        await ensure_subscription(self.engine.db, link, clients.graph, public_url)
            except GraphError as exc:
                log.warning("lifecycle handling failed", error=str(exc))
                if public_url and exc.status == 404:
                    await forget(self.engine.db, subscription_id)
                    await ensure_subscription(self.engine.db, link, clients.graph, public_url)

    def _rechecks(
        self, events: Sequence[Event], missing: frozenset[str], waiting: Set[str] = frozenset()
    ) -> list[NewEvent]:
        """Notified users the delta did not show yet (replication lag) are looked at again
        a little later, a few times, then left to the sweep.

        Graph also notifies for properties outside our $select, which the delta never
        shows: those cost a few cheap rounds (no PBX read when the delta is empty), and
        rechecks coalesce: a user with a recheck already `waiting` gets no second one."""
        delays = self.engine.config.recheck_delays_s
        tries: dict[str, int] = {}
        for event in events:
            if event.user_id in waiting:
                continue
            if event.user_id in missing and event.kind in NOTIFIED_KINDS:
                tried = int(event.payload.get("recheck", 0))
                tries[event.user_id] = max(tries.get(event.user_id, 0), tried)
        now = self.engine.clock()
        return [
            NewEvent(
                link_id=events[0].link_id,
                kind="recheck",
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
            e.kind == "lifecycle" or (e.kind == "resync" and e.payload.get("gap")) for e in events
        )
        if not gap or any(e.payload.get("followup") for e in events):
            return []
        delays = self.engine.config.recheck_delays_s
        return [
            NewEvent(
                link_id=events[0].link_id,
                kind="resync",
                payload={"gap": True, "followup": True},
                due_at=self.engine.clock() + (max(delays) if delays else 0.0),
            )
        ]

    async def _report(self, link: Link, outcome: RoundOutcome) -> None:
        alerts = self.engine.alerts
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
                await _quietly(alerts.actions_failed(link, applied.failed))
        conflicts = outcome.plan.by_kind("conflict")
        for action in conflicts:
            kind = action.conflict.value if action.conflict else "unknown"
            metrics.CONFLICTS.labels(link=link.name, kind=kind).inc()
        if conflicts:
            await _quietly(alerts.conflicts_found(link, outcome.plan, conflicts))
        if outcome.held_new:
            # Only for disables held just now: re-planned ones are skipped as already held,
            # and one held list keeps one alert key however many rounds add to it.
            await _quietly(
                alerts.disables_held(
                    link,
                    outcome.plan.held,
                    outcome.plan.disable_limit,
                    waiting=outcome.held_waiting,
                    list_id=outcome.held_first_id,
                )
            )

    async def _setup_required(self, link: Link, ids: list[int], exc: SetupRequired) -> None:
        engine = self.engine
        log.warning("link needs setup", reason=exc.reason, error_code=exc.error_code)
        metrics.TOKEN_FAILURES.labels(link=link.name).inc()
        await release_events(engine.db, ids, engine.worker_id)
        await set_link_state(engine.db, link.id, LinkState.SETUP_REQUIRED, exc.reason)
        await self.drop_clients(link.id)
        await _quietly(engine.alerts.setup_required(link, exc.reason))

    async def _failed(
        self,
        link: Link,
        events: list[Event],
        request: RoundRequest,
        exc: Exception,
        started: float,
    ) -> None:
        engine = self.engine
        transient = isinstance(exc, TransientError)
        error = f"{type(exc).__name__}: {exc}"
        if transient:
            log.warning("round failed; will retry", error=error)
        else:
            log.exception("round failed", error=error)
        ids = [e.id for e in events]
        retry_at = engine.clock() + self.backoff_s(max(e.attempts for e in events), exc)
        await fail_events(
            engine.db,
            ids,
            engine.worker_id,
            error=error,
            retry_at=retry_at,
            max_attempts=engine.config.max_attempts,
        )
        async with engine.db.atomic() as tx:
            await add_round(
                tx,
                RoundRecord(
                    link_id=link.id,
                    kind=request.kind,
                    started_at=started,
                    finished_at=time.time(),
                    outcome="retry" if transient else "error",
                    error=error[:2000],
                ),
            )
        metrics.ROUNDS.labels(link=link.name, kind=request.kind, outcome="error").inc()
        failed = [e for e in await get_events(engine.db, ids) if e.status is EventStatus.FAILED]
        if failed:
            await _quietly(engine.alerts.events_failed(link, failed, error))

    def backoff_s(self, attempts: int, exc: Exception) -> float:
        config = self.engine.config
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
    if "sweep" in kinds:
        return RoundRequest(kind=SWEEP, trigger="sweep", notified_ids=notified)
    if any(e.kind == "resync" and e.payload.get("full") for e in events):
        return RoundRequest(kind=FULL, trigger="manual", notified_ids=notified)
    trigger = "notification" if notified else next(iter(sorted(kinds)))
    if ACTION_EVENT in kinds:
        # A refused write handed back: the PBX must be read and the user planned again,
        # even when the delta has nothing new (see rounds._nothing_changed).
        trigger = "retry"
    if "lifecycle" in kinds:
        trigger = "lifecycle"
    return RoundRequest(kind=ROUND, trigger=trigger, notified_ids=notified)


async def _quietly(work: Awaitable[None]) -> None:
    """Alerts must never break a round."""
    try:
        await work
    except Exception:
        log.exception("alert failed")
