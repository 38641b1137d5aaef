"""What the operator was told: alerts sent (for de-duplication)."""

from __future__ import annotations

from dataclasses import dataclass

from store.db import Database


@dataclass(frozen=True, slots=True)
class SentAlert:
    link_id: int
    kind: str
    key: str
    subject: str
    recipients: int
    sent_at: float


async def last_sent_at(db: Database, link_id: int, kind: str, key: str) -> float | None:
    """When this alert (kind and key) last went out for the link, or None."""
    row = await db.fetchone(
        "SELECT sent_at FROM alerts_sent WHERE link_id = ? AND kind = ? AND key = ?",
        (link_id, kind, key),
    )
    return None if row is None else float(row["sent_at"])


async def record_sent(db: Database, sent: SentAlert) -> None:
    await db.write(
        "INSERT INTO alerts_sent (link_id, kind, key, subject, recipients, sent_at)"
        " VALUES (?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (link_id, kind, key) DO UPDATE SET subject = excluded.subject,"
        " recipients = excluded.recipients, sent_at = excluded.sent_at",
        (sent.link_id, sent.kind, sent.key, sent.subject, sent.recipients, sent.sent_at),
    )


async def list_sent(db: Database, link_id: int) -> list[SentAlert]:
    rows = await db.fetchall(
        "SELECT link_id, kind, key, subject, recipients, sent_at FROM alerts_sent"
        " WHERE link_id = ? ORDER BY sent_at, kind, key",
        (link_id,),
    )
    return [
        SentAlert(r["link_id"], r["kind"], r["key"], r["subject"], r["recipients"], r["sent_at"])
        for r in rows
    ]
