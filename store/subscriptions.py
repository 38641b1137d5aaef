"""Graph subscriptions we created. Only a SHA-256 of clientState is stored."""

from __future__ import annotations

import hashlib
import hmac

from store.db import Database, Row
from store.models import Subscription


def client_state_hash(client_state: str) -> bytes:
    return hashlib.sha256(client_state.encode()).digest()


def client_state_matches(subscription: Subscription, client_state: str) -> bool:
    """Constant-time comparison of the hashes (equal length, so no length leak either)."""
    return hmac.compare_digest(subscription.client_state_hash, client_state_hash(client_state))


def _subscription(row: Row) -> Subscription:
    return Subscription(
        id=row["id"],
        link_id=row["link_id"],
        resource=row["resource"],
        client_state_hash=row["client_state_hash"],
        expires_at=row["expires_at"],
        created_at=row["created_at"],
        notification_url=row["notification_url"],
    )


_COLUMNS = "id, link_id, resource, client_state_hash, notification_url, expires_at, created_at"


async def put_subscription(db: Database, sub: Subscription) -> None:
    await db.write(
        f"INSERT INTO subscriptions ({_COLUMNS}) VALUES (?,?,?,?,?,?,?)"
        " ON CONFLICT (id) DO UPDATE SET expires_at = excluded.expires_at,"
        " notification_url = excluded.notification_url",
        (
            sub.id,
            sub.link_id,
            sub.resource,
            sub.client_state_hash,
            sub.notification_url,
            sub.expires_at,
            sub.created_at,
        ),
    )


async def get_subscription(db: Database, subscription_id: str) -> Subscription | None:
    row = await db.fetchone(
        f"SELECT {_COLUMNS} FROM subscriptions WHERE id = ?", (subscription_id,)
    )
    return None if row is None else _subscription(row)


async def link_subscriptions(db: Database, link_id: int) -> list[Subscription]:
    rows = await db.fetchall(
        f"SELECT {_COLUMNS} FROM subscriptions WHERE link_id = ? ORDER BY expires_at DESC",
        (link_id,),
    )
    return [_subscription(r) for r in rows]


async def set_subscription_expiry(db: Database, subscription_id: str, expires_at: float) -> None:
    await db.write(
        "UPDATE subscriptions SET expires_at = ? WHERE id = ?", (expires_at, subscription_id)
    )


async def delete_subscription(db: Database, subscription_id: str) -> None:
    await db.write("DELETE FROM subscriptions WHERE id = ?", (subscription_id,))


async def subscriptions_with_tenants(
    db: Database, ids: list[str]
) -> dict[str, tuple[Subscription, str]]:
    """Subscriptions by id with their link's tenant id, for checking a notification batch."""
    if not ids:
        return {}
    cols = ", ".join(f"s.{c.strip()}" for c in _COLUMNS.split(","))
    rows = await db.fetchall(
        f"SELECT {cols}, l.tenant_id AS tenant_id FROM subscriptions s"
        f" JOIN links l ON l.id = s.link_id WHERE s.id IN ({','.join('?' * len(ids))})",
        ids,
    )
    return {r["id"]: (_subscription(r), r["tenant_id"]) for r in rows}
