"""The figures of a link's Overview in an administrator's words: how changes arrive, when
the next full comparison runs, when we last read Microsoft 365 and last changed the PBX."""

from __future__ import annotations

import time

from admin.html import Markup, fmt, when_html
from store import Database
from store.models import LinkState, RoundKind
from store.records import last_round, list_audit
from worker.polling import PollMode
from worker.scheduler import sweep_due_at
from worker.status import LinkStatus


def sync_mode(status: LinkStatus, mode: PollMode) -> Markup:
    """Push while a Graph subscription exists (with its safety poll), else polling."""
    expires = status.subscription_expires_at
    every = _interval(mode.interval_s)
    if mode.push and expires:
        return fmt(
            "Push: Microsoft 365 notifies this daemon of each change (subscription renewed"
            " automatically, valid until {t}); a check every {every} catches a lost"
            " notification.",
            t=when_html(expires),
            every=every,
        )
    if mode.push:
        return fmt(
            "Push, once the change subscription is made (the next maintenance makes it);"
            " meanwhile a check every {every}.",
            every=every,
        )
    return fmt(
        "Polling: this daemon asks Microsoft 365 for changes every {every}. There is no"
        " public URL (M365SYNC_PUBLIC_URL) for Microsoft 365 to notify.",
        every=every,
    )


def _interval(seconds: int) -> str:
    if seconds % 60 == 0 and seconds >= 60:
        minutes = seconds // 60
        return "minute" if minutes == 1 else f"{minutes} minutes"
    return f"{seconds} seconds"


async def next_sweep(db: Database, status: LinkStatus, now: float | None = None) -> Markup:
    link = status.link
    if link.state is not LinkState.ACTIVE:
        return Markup("paused until Setup is complete")
    last_ok = await last_round(db, link.id, RoundKind.SWEEP, succeeded=True)
    due = sweep_due_at(link, last_ok)
    if due is None:
        return Markup("not scheduled: the Settings have an error")
    if due <= (now if now is not None else time.time()):
        return Markup("due now: the worker starts it within minutes")
    return fmt("{t} (every few hours, as set in Settings)", t=when_html(due))


def last_read(status: LinkStatus) -> Markup:
    last = status.last_round
    if last is None:
        return Markup("not yet: the first read runs once Setup is complete")
    words = {"ok": "done", "partial": "done, some changes failed", "retry": "will retry"}
    return fmt("{t} ({o})", t=when_html(last.finished_at), o=words.get(last.outcome, "failed"))


async def last_change(db: Database, link_id: int) -> Markup:
    """The newest write to the PBX, by the worker or by an admin (Sync Users creates
    extensions without a read round: "never" would be wrong then)."""
    # Setup saves and sign-ins are audited too; look past a few of them.
    for entry in await list_audit(db, link_id, outcome="ok", limit=100):
        if entry.action in _WRITES and entry.number:
            return fmt(
                "{t}: extension {n} {what}",
                t=when_html(entry.at),
                n=entry.number,
                what=_WRITES[entry.action],
            )
    return Markup("none yet")


_WRITES = {
    "create": "created",
    "bind": "linked to its user",
    "update": "updated",
    "enable": "re-enabled",
    "disable": "disabled",
}
