"""How one link is doing: the figures `m365sync status`, the Links page and the JSON API
show. One definition, so "last round" means the same everywhere: the latest round of any
kind (an incremental round, a full round or a sweep)."""

from __future__ import annotations

from dataclasses import dataclass

from store import Database
from store.events import last_created_at, last_done_at, list_events, queue_stats
from store.leases import LeaseRow, get_link_lease
from store.models import (
    EventKind,
    EventStatus,
    Link,
    RoundKind,
    RoundRecord,
    RoundResult,
    Subscription,
)
from store.records import last_round, list_held
from store.subscriptions import link_subscriptions
from worker.leasing import current_wait, waiting_text

FAILED_OUTCOMES = frozenset({RoundResult.ERROR, RoundResult.RETRY})
# What Graph pushed: "the last notification" of status, the link page and /metrics.
NOTIFIED_KINDS = (EventKind.NOTIFICATION, EventKind.LIFECYCLE)


@dataclass(frozen=True, slots=True)
class LinkStatus:
    link: Link
    subscription: Subscription | None  # the one that lasts longest
    last_round: RoundRecord | None
    last_sweep: RoundRecord | None
    queue_pending: int  # due now (or being worked)
    queue_scheduled: int  # waiting for a later time (rechecks, retries)
    oldest_pending_at: float | None
    events_failed: int
    held: int
    last_failure: str | None  # the newest failed event's error
    last_error: str | None  # that, or else the error of a last round that failed
    lease: LeaseRow | None = None  # the link's lease row, live or not
    last_notification_at: float | None = None  # the newest change/lifecycle notification kept
    last_poll_at: float | None = None  # when the newest poll finished

    @property
    def subscription_expires_at(self) -> float | None:
        return self.subscription.expires_at if self.subscription else None

    @property
    def lease_wait(self) -> LeaseRow | None:
        """The lease while a worker waits for another holder's lease, else None."""
        return current_wait(self.lease)

    @property
    def lease_wait_text(self) -> str | None:
        wait = self.lease_wait
        return waiting_text(wait) if wait else None

    def to_json(self) -> dict[str, object]:
        link = self.link
        return {
            "id": link.id,
            "name": link.name,
            "state": link.state.value,
            "state_reason": link.state_reason,
            "auth_mode": link.auth_mode.value,
            "pbx_domain": link.pbx_domain,
            "subscription_expires_at": self.subscription_expires_at,
            "last_round_at": self.last_round.finished_at if self.last_round else None,
            "last_round_outcome": self.last_round.outcome if self.last_round else None,
            "last_sweep_at": self.last_sweep.finished_at if self.last_sweep else None,
            "queue_pending": self.queue_pending,
            "queue_scheduled": self.queue_scheduled,
            "events_failed": self.events_failed,
            "last_failure": self.last_failure,
            "held_actions": self.held,
            "lease_wait": self.lease_wait_text,
            "last_notification_at": self.last_notification_at,
            "last_poll_at": self.last_poll_at,
        }


async def link_status(db: Database, link: Link) -> LinkStatus:
    subscriptions = await link_subscriptions(db, link.id)
    stats = await queue_stats(db, link.id)
    last = await last_round(db, link.id)
    failed = await list_events(db, link.id, EventStatus.FAILED, limit=1) if stats.failed else []
    last_failure = (failed[0].last_error if failed else None) or None
    last_error = last_failure
    if not last_error and last is not None and last.outcome in FAILED_OUTCOMES:
        last_error = last.error
    return LinkStatus(
        link=link,
        subscription=max(subscriptions, key=lambda s: s.expires_at, default=None),
        last_round=last,
        last_sweep=await last_round(db, link.id, RoundKind.SWEEP),
        queue_pending=stats.due + stats.claimed,
        queue_scheduled=stats.scheduled,
        oldest_pending_at=stats.oldest_pending_at,
        events_failed=stats.failed,
        held=len(await list_held(db, link.id)),
        last_failure=last_failure,
        last_error=last_error or None,
        lease=await get_link_lease(db, link.id),
        last_notification_at=await last_created_at(db, link.id, NOTIFIED_KINDS),
        last_poll_at=await last_done_at(db, link.id, EventKind.POLL),
    )
