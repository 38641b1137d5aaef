"""History: the audit trail, actions held by the brakes, and finished rounds."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from store.db import Database, Row, Transaction
from store.models import AuditEntry, HeldAction, HeldStatus, RoundKind, RoundRecord, RoundResult


def _dumps(value: Mapping[str, Any]) -> str:
    return json.dumps(dict(value), separators=(",", ":"), ensure_ascii=False, sort_keys=True)


async def add_audit(tx: Transaction, entries: Iterable[AuditEntry]) -> None:
    now = time.time()
    await tx.executemany(
        "INSERT INTO audit (link_id, at, actor, trigger, action, outcome, user_id, number,"
        " before, after, reason) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        [
            (
                e.link_id,
                e.at or now,
                e.actor,
                e.trigger,
                e.action,
                e.outcome,
                e.user_id,
                e.number,
                _dumps(e.before),
                _dumps(e.after),
                e.reason,
            )
            for e in entries
        ],
    )


def _audit(row: Row) -> AuditEntry:
    return AuditEntry(
        id=row["id"],
        link_id=row["link_id"],
        at=row["at"],
        actor=row["actor"],
        trigger=row["trigger"],
        action=row["action"],
        outcome=row["outcome"],
        user_id=row["user_id"],
        number=row["number"],
        before=json.loads(row["before"]),
        after=json.loads(row["after"]),
        reason=row["reason"],
    )


async def list_audit(
    db: Database,
    link_id: int,
    *,
    action: str | None = None,
    outcome: str | None = None,
    text: str | None = None,
    since: float | None = None,
    limit: int = 200,
    before_id: int | None = None,
    text_user_ids: Sequence[str] = (),
) -> list[AuditEntry]:
    """Newest first; filters combine with AND. `text` matches number, user id, reason or the
    values, or the row is about one of `text_user_ids` (users whose name matched it)."""
    sql, params = audit_query(
        link_id,
        action=action,
        outcome=outcome,
        text=text,
        since=since,
        limit=limit,
        before_id=before_id,
        text_user_ids=text_user_ids,
    )
    return [_audit(r) for r in await db.fetchall(sql, params)]


def audit_query(
    link_id: int,
    *,
    action: str | None = None,
    outcome: str | None = None,
    text: str | None = None,
    since: float | None = None,
    limit: int = 200,
    before_id: int | None = None,
    text_user_ids: Sequence[str] = (),
) -> tuple[str, tuple[Any, ...]]:
    """The SQL of `list_audit` (tests read its query plan)."""
    # "+link_id": not by the (link_id, at) index, whose rows SQLite would sort in full for
    # ORDER BY id (90 ms at 100,000 rows); walking the primary key backwards stops after
    # `limit` rows and `before_id` seeks (bench/activity.py).
    where = ["+link_id = ?"]
    params: list[Any] = [link_id]
    if action:
        where.append("action = ?")
        params.append(action)
    if outcome:
        where.append("outcome = ?")
        params.append(outcome)
    if since is not None:
        where.append("at >= ?")
        params.append(since)
    if before_id is not None:
        where.append("id < ?")
        params.append(before_id)
    if text:
        ids = list(text_user_ids)
        by_user = f" OR user_id IN ({','.join('?' * len(ids))})" if ids else ""
        where.append(
            "(number LIKE ? OR user_id LIKE ? OR reason LIKE ? OR before LIKE ? OR after LIKE ?"
            f"{by_user})"
        )
        params.extend([f"%{text}%"] * 5)
        params.extend(ids)
    sql = f"SELECT * FROM audit WHERE {' AND '.join(where)} ORDER BY id DESC LIMIT ?"
    return sql, (*params, limit)


async def disables_since(db: Database, link_id: int, since: float) -> int:
    """Extensions the link disabled since `since`, approved disables excepted: the brake's
    window (an approved disable was an admin's decision, not the directory's)."""
    row = await db.fetchone(
        "SELECT COUNT(DISTINCT number) AS n FROM audit WHERE link_id = ? AND at >= ?"
        " AND action = 'disable' AND outcome = 'ok' AND trigger != 'approval'",
        (link_id, since),
    )
    return int(row["n"]) if row is not None else 0


# --- held actions -------------------------------------------------------------------


def _held(row: Row) -> HeldAction:
    return HeldAction(
        id=row["id"],
        link_id=row["link_id"],
        action=json.loads(row["action"]),
        reason=row["reason"],
        status=HeldStatus(row["status"]),
        created_at=row["created_at"],
        decided_by=row["decided_by"],
        decided_at=row["decided_at"],
    )


async def hold_actions(
    tx: Transaction, link_id: int, actions: Iterable[Mapping[str, Any]], reason: str
) -> int:
    """Hold actions for approval; an extension already held is not held again, whatever the
    message of the plan that holds it now. Returns how many were held now."""
    now = time.time()
    rows = await tx.fetchall(
        "SELECT number FROM held_actions WHERE link_id = ? AND status = 'held'", (link_id,)
    )
    held = {r["number"] for r in rows}
    new: list[tuple[Any, ...]] = []
    for action in actions:
        number = action.get("number")
        if number in held:
            continue
        held.add(number)
        new.append((link_id, _dumps(action), reason, now, number, action.get("user_id")))
    await tx.executemany(
        "INSERT INTO held_actions (link_id, action, reason, created_at, number, user_id)"
        " VALUES (?,?,?,?,?,?)",
        new,
    )
    return len(new)


async def held_numbers(db: Database, link_id: int) -> frozenset[str]:
    """The extensions whose disable waits for approval (the planner's `held_numbers`)."""
    rows = await db.fetchall(
        "SELECT number FROM held_actions WHERE link_id = ? AND status = 'held'"
        " AND number IS NOT NULL",
        (link_id,),
    )
    return frozenset(str(r["number"]) for r in rows)


async def withdraw_held(tx: Transaction, link_id: int, numbers: Iterable[str]) -> list[int]:
    """Take held disables off the list because their users came back; returns their ids."""
    now = time.time()
    ids: list[int] = []
    for number in numbers:
        rows = await tx.fetchall(
            "UPDATE held_actions SET status = 'withdrawn', decided_by = 'worker', decided_at = ?"
            " WHERE link_id = ? AND status = 'held' AND number = ? RETURNING id",
            (now, link_id, number),
        )
        ids.extend(int(r["id"]) for r in rows)
    return ids


async def held_episode(tx: Transaction, link_id: int) -> tuple[int, int]:
    """(how many are held, the id of the oldest held): one held list, from the first disable
    held until the list is empty again, has one oldest id, which keys its alert."""
    row = await tx.fetchone(
        "SELECT COUNT(*) AS n, COALESCE(MIN(id), 0) AS first FROM held_actions"
        " WHERE link_id = ? AND status = 'held'",
        (link_id,),
    )
    return (int(row["n"]), int(row["first"])) if row is not None else (0, 0)


async def list_held(
    db: Database, link_id: int, status: HeldStatus | None = HeldStatus.HELD
) -> list[HeldAction]:
    if status is None:
        rows = await db.fetchall(
            "SELECT * FROM held_actions WHERE link_id = ? ORDER BY id", (link_id,)
        )
    else:
        rows = await db.fetchall(
            "SELECT * FROM held_actions WHERE link_id = ? AND status = ? ORDER BY id",
            (link_id, status.value),
        )
    return [_held(r) for r in rows]


async def decide_held(
    db: Database, link_id: int, ids: Iterable[int] | None, status: HeldStatus, who: str
) -> list[HeldAction]:
    """Approve or reject held actions (all held ones when `ids` is None)."""
    now = time.time()
    async with db.atomic() as tx:
        if ids is None:
            rows = await tx.fetchall(
                "UPDATE held_actions SET status = ?, decided_by = ?, decided_at = ?"
                " WHERE link_id = ? AND status = 'held' RETURNING *",
                (status.value, who, now, link_id),
            )
        else:
            id_list = list(ids)
            rows = await tx.fetchall(
                "UPDATE held_actions SET status = ?, decided_by = ?, decided_at = ?"
                f" WHERE link_id = ? AND status = 'held' AND id IN ({','.join('?' * len(id_list))})"
                " RETURNING *",
                (status.value, who, now, link_id, *id_list),
            )
    return sorted((_held(r) for r in rows), key=lambda h: h.id)


async def return_to_held(db: Database, ids: Iterable[int]) -> None:
    """Approved rows whose approval could not be carried out wait for approval again."""
    async with db.atomic() as tx:
        await tx.executemany(
            # An extension is held at most once (the held_once index): a row whose
            # extension is held again meanwhile stays approved.
            "UPDATE held_actions SET status = 'held', decided_by = NULL,"
            " decided_at = NULL WHERE id = ? AND status = 'approved' AND NOT EXISTS"
            " (SELECT 1 FROM held_actions AS h WHERE h.link_id = held_actions.link_id"
            " AND h.number = held_actions.number AND h.status = 'held')",
            [(i,) for i in ids],
        )


async def mark_held_applied(tx: Transaction, ids: Iterable[int]) -> None:
    await tx.executemany(
        "UPDATE held_actions SET status = 'applied' WHERE id = ?", [(i,) for i in ids]
    )


# --- rounds ---------------------------------------------------------------------------


async def add_round(tx: Transaction, record: RoundRecord) -> int:
    return await tx.insert_id(
        "INSERT INTO rounds (link_id, kind, started_at, finished_at, outcome, stats, error)"
        " VALUES (?,?,?,?,?,?,?)",
        (
            record.link_id,
            record.kind,
            record.started_at,
            record.finished_at,
            record.outcome,
            _dumps(record.stats),
            record.error,
        ),
    )


def _round(row: Row) -> RoundRecord:
    return RoundRecord(
        id=row["id"],
        link_id=row["link_id"],
        kind=RoundKind(row["kind"]),
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        outcome=RoundResult(row["outcome"]),
        stats=json.loads(row["stats"]),
        error=row["error"],
    )


async def last_round(
    db: Database, link_id: int, kind: RoundKind | None = None, *, succeeded: bool = False
) -> RoundRecord | None:
    """The latest round (of `kind`); with `succeeded`, the latest that did its work."""
    where = ["link_id = ?"]
    params: list[Any] = [link_id]
    if kind is not None:
        where.append("kind = ?")
        params.append(kind)
    if succeeded:
        where.append(f"outcome IN ('{RoundResult.OK}', '{RoundResult.PARTIAL}')")
    row = await db.fetchone(
        f"SELECT * FROM rounds WHERE {' AND '.join(where)} ORDER BY finished_at DESC LIMIT 1",
        params,
    )
    return None if row is None else _round(row)


async def last_changes(db: Database, link_id: int) -> dict[str, tuple[float, str]]:
    """(when, action) of the newest successful write per extension number: the users ↔
    extensions view's "last change". One grouped scan of the link's audit rows."""
    rows = await db.fetchall(
        "SELECT number, action, MAX(at) AS at FROM audit WHERE link_id = ? AND outcome = 'ok'"
        " AND number IS NOT NULL AND action IN ('create','bind','update','enable','disable')"
        " GROUP BY number",
        (link_id,),
    )
    return {r["number"]: (r["at"], r["action"]) for r in rows}


async def latest_user_audit(
    db: Database, link_id: int, actions: Iterable[str]
) -> dict[str | None, tuple[str, str]]:
    """For each user id, the (action, reason) of its newest audit row among `actions`; the
    conflict trail's memory of what it already recorded. One scan of the link's rows."""
    names = sorted(set(actions))
    rows = await db.fetchall(
        "SELECT user_id, action, reason FROM audit WHERE link_id = ?"
        f" AND action IN ({','.join('?' * len(names))}) ORDER BY id",
        (link_id, *names),
    )
    return {r["user_id"]: (r["action"], r["reason"]) for r in rows}
