"""One `link_status` for the command line and the admin page: the same "last round"."""

from __future__ import annotations

from store import Database
from store.models import Link, RoundRecord
from store.records import add_round
from worker.status import link_status


async def _round(db: Database, link: Link, kind: str, at: float, outcome: str = "ok") -> None:
    async with db.atomic() as tx:
        await add_round(tx, RoundRecord(link.id, kind, at - 1, at, outcome, error="boom"))


async def test_last_round_is_the_latest_of_any_kind(db: Database, link: Link) -> None:
    """A sweep after an incremental round is the last round (what `status` always showed,
    and now the Links page and /api/links too); the last sweep is reported beside it."""
    await _round(db, link, "round", 100.0)
    await _round(db, link, "sweep", 200.0)
    status = await link_status(db, link)
    assert status.last_round is not None and status.last_round.kind == "sweep"
    assert status.to_json()["last_round_at"] == 200.0
    assert status.to_json()["last_sweep_at"] == 200.0


async def test_a_failed_last_round_gives_the_last_error(db: Database, link: Link) -> None:
    await _round(db, link, "full", 100.0, outcome="error")
    status = await link_status(db, link)
    assert status.last_error == "boom"
    await _round(db, link, "round", 200.0)
    assert (await link_status(db, link)).last_error is None


async def test_kinds_and_outcomes_read_back_as_enums(db: Database, link: Link) -> None:
    """The store hands back the StrEnums the worker compares with `is`, not bare strings."""
    from store.events import enqueue_events, list_events
    from store.models import EventKind, NewEvent, RoundKind, RoundResult
    from store.records import last_round

    await enqueue_events(db, [NewEvent(link.id, EventKind.SWEEP)])
    [event] = await list_events(db, link.id)
    assert event.kind is EventKind.SWEEP
    await _round(db, link, "sweep", 100.0, outcome="partial")
    record = await last_round(db, link.id)
    assert record is not None
    assert record.kind is RoundKind.SWEEP and record.outcome is RoundResult.PARTIAL
