"""The figures the Links page shows per link."""

from __future__ import annotations

from dataclasses import dataclass

from store import Database
from store.events import queue_stats
from store.models import Link, RoundRecord
from store.records import last_round, list_held
from store.subscriptions import link_subscriptions


@dataclass(frozen=True, slots=True)
class LinkStatus:
    link: Link
    subscription_expires_at: float | None
    last_round: RoundRecord | None
    last_sweep: RoundRecord | None
    queue_pending: int
    events_failed: int
    held: int

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
    return LinkStatus(
        link=link,
        subscription_expires_at=max((s.expires_at for s in subscriptions), default=None),
        last_round=await last_round(db, link.id, "round"),
        last_sweep=await last_round(db, link.id, "sweep"),
        queue_pending=stats.pending + stats.claimed,
        events_failed=stats.failed,
        held=len(await list_held(db, link.id)),
    )
