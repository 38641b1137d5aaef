"""How one link is doing: the figures `m365sync status`, the Links page and the JSON API
show. One definition, so "last round" means the same everywhere: the latest round of any
kind (an incremental round, a full round or a sweep)."""

from __future__ import annotations

from dataclasses import dataclass

from store import Database
from store.events import list_events, queue_stats
from store.models import EventStatus, Link, RoundKind, RoundRecord, RoundResult, Subscription
from store.records import last_round, list_held
from store.subscriptions import link_subscriptions

FAILED_OUTCOMES = frozenset({RoundResult.ERROR, RoundResult.RETRY})


@dataclass(frozen=True, slots=True)
class LinkStatus:
    link: Link
    subscription: Subscription | None  # the one that lasts longest
    last_round: RoundRecord | None
    last_sweep: RoundRecord | None
    queue_pending: int
    oldest_pending_at: float | None
    events_failed: int
    held: int
    last_error: str | None

    @property
    def subscription_expires_at(self) -> float | None:
        return self.subscription.expires_at if self.subscription else None

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
            "events_failed": self.events_failed,
            "held_actions": self.held,
        }


async def link_status(db: Database, link: Link) -> LinkStatus:
    subscriptions = await link_subscriptions(db, link.id)
    stats = await queue_stats(db, link.id)
    last = await last_round(db, link.id)
    failed = await list_events(db, link.id, EventStatus.FAILED, limit=1)
    last_error = failed[0].last_error if failed else None
    if not last_error and last is not None and last.outcome in FAILED_OUTCOMES:
        last_error = last.error
    return LinkStatus(
        link=link,
        subscription=max(subscriptions, key=lambda s: s.expires_at, default=None),
        last_round=last,
        last_sweep=await last_round(db, link.id, RoundKind.SWEEP),
        queue_pending=stats.pending + stats.claimed,
        oldest_pending_at=stats.oldest_pending_at,
        events_failed=stats.failed,
        held=len(await list_held(db, link.id)),
        last_error=last_error or None,
    )
