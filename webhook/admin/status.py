"""The figures the Links page shows per link."""

from __future__ import annotations

from dataclasses import dataclass

from store import Database
from store.events import list_events, queue_stats
from store.leases import LeaseRow, get_link_lease
from store.models import EventStatus, Link, RoundRecord
from store.records import last_round, list_held
from store.subscriptions import link_subscriptions
from worker.leasing import current_wait, waiting_text


@dataclass(frozen=True, slots=True)
class LinkStatus:
    link: Link
    subscription_expires_at: float | None
    last_round: RoundRecord | None
    last_sweep: RoundRecord | None
    queue_pending: int  # due now (or being worked)
    queue_scheduled: int  # waiting for a later time (rechecks, retries)
    events_failed: int
    held: int
    last_failure: str | None = None  # the newest failed event's error
    lease_wait: LeaseRow | None = None  # a worker waits for another holder's lease

    @property
    def lease_wait_text(self) -> str | None:
        return waiting_text(self.lease_wait) if self.lease_wait else None

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
        }


async def link_status(db: Database, link: Link) -> LinkStatus:
    subscriptions = await link_subscriptions(db, link.id)
    stats = await queue_stats(db, link.id)
    failed = await list_events(db, link.id, EventStatus.FAILED, limit=1) if stats.failed else []
    return LinkStatus(
        link=link,
        subscription_expires_at=max((s.expires_at for s in subscriptions), default=None),
        last_round=await last_round(db, link.id, "round"),
        last_sweep=await last_round(db, link.id, "sweep"),
        queue_pending=stats.due + stats.claimed,
        queue_scheduled=stats.scheduled,
        events_failed=stats.failed,
        held=len(await list_held(db, link.id)),
        last_failure=failed[0].last_error if failed else None,
        lease_wait=current_wait(await get_link_lease(db, link.id)),
    )
