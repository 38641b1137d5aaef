"""Keeping one Graph change-notification subscription alive per link.

Created with the maximum lifetime for users, renewed with PATCH when less than half
of it is left, recreated when Graph no longer has it. Whenever there may have been a
gap (new subscription, removal, missed notifications) the caller runs a delta round.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog

from store import Database
from store.models import Link, Subscription
from store.subscriptions import (
    client_state_hash,
    delete_subscription,
    get_subscription,
    link_subscriptions,
    put_subscription,
    set_subscription_expiry,
)
from worker.errors import GraphError, SyncError
from worker.graph.client import GraphClient
from worker.graph.subscriptions import MAX_USER_SUBSCRIPTION_MINUTES, find_ours

log = structlog.get_logger("m365sync.subscriptions")

# A few minutes under Graph's maximum, so clock skew never makes a request too long.
LIFETIME_S = (MAX_USER_SUBSCRIPTION_MINUTES - 10) * 60
RESOURCE = "users"
CHANGE_TYPE = "updated,deleted"


@dataclass(frozen=True, slots=True)
class EnsureResult:
    subscription: Subscription
    action: str  # "kept" | "renewed" | "created"

    @property
    def gap(self) -> bool:
        """A new subscription may have missed changes: run a delta round."""
        return self.action == "created"


def notification_urls(public_url: str) -> tuple[str, str]:
    base = public_url.rstrip("/")
    return f"{base}/graph/notifications", f"{base}/graph/lifecycle"


# How often the maintenance asks Graph whether a subscription it trusts still exists. A
# vanished one loses pushes only: the safety poll (every 15 min by default) catches the
# changes meanwhile, so looking every minute (60 GETs a link an hour, 30,000 at 500 links)
# buys nothing.
VERIFY_EVERY_S = 15 * 60


async def ensure_subscription(
    db: Database,
    link: Link,
    graph: GraphClient,
    public_url: str,
    now: float | None = None,
    *,
    verified: dict[str, float] | None = None,
) -> EnsureResult:
    """Keep one subscription for the link: renewed in time, recreated when gone. With
    `verified` (subscription id -> when Graph last confirmed it), a subscription confirmed
    within VERIFY_EVERY_S is trusted without a GET."""
    now = time.time() if now is None else now
    result = await _ensure(db, link, graph, public_url, now, verified or {})
    if verified is not None:
        verified[result.subscription.id] = now
    return result


async def trusted_subscription(
    db: Database,
    link: Link,
    public_url: str,
    now: float,
    verified: dict[str, float],
) -> Subscription | None:
    """The link's subscription when upkeep has nothing to ask Graph: one delivering to
    this URL, far from expiry, confirmed within VERIFY_EVERY_S. The caller then need not
    open the link's clients (a token request each time) at all."""
    notification_url, _ = notification_urls(public_url)
    current = await link_subscriptions(db, link.id)
    if len(current) != 1:
        return None
    (sub,) = current
    fresh = now - verified.get(sub.id, -VERIFY_EVERY_S) < VERIFY_EVERY_S
    far = sub.expires_at - now > LIFETIME_S / 2
    return sub if sub.notification_url == notification_url and fresh and far else None


async def _ensure(
    db: Database,
    link: Link,
    graph: GraphClient,
    public_url: str,
    now: float,
    verified: dict[str, float],
) -> EnsureResult:
    notification_url, _ = notification_urls(public_url)
    for current in await link_subscriptions(db, link.id):
        if current.notification_url != notification_url:
            # The public URL changed: the old subscription delivers elsewhere.
            await graph.delete_subscription(current.id)
            await delete_subscription(db, current.id)
            continue
        if current.expires_at - now > LIFETIME_S / 2:
            # Graph may drop a subscription without telling us (for users it documents
            # only reauthorizationRequired), so look before trusting our record.
            if now - verified.get(current.id, -VERIFY_EVERY_S) < VERIFY_EVERY_S:
                return EnsureResult(current, "kept")
            if await graph.get_subscription(current.id) is not None:
                return EnsureResult(current, "kept")
            log.warning("subscription.gone", subscription=current.id)
            await delete_subscription(db, current.id)
            continue
        renewed = await renew(db, graph, current, now)
        if renewed is not None:
            return EnsureResult(renewed, "renewed")
    return EnsureResult(await create(db, link, graph, public_url, now), "created")


async def renew(
    db: Database, graph: GraphClient, current: Subscription, now: float
) -> Subscription | None:
    """PATCH a new expiry; None when Graph no longer has the subscription."""
    remote = await graph.get_subscription(current.id)
    if remote is None:
        log.warning("subscription.gone", subscription=current.id)
        await delete_subscription(db, current.id)
        return None
    expires_at = now + LIFETIME_S
    await graph.renew_subscription(current.id, datetime.fromtimestamp(expires_at, UTC))
    await set_subscription_expiry(db, current.id, expires_at)
    log.info("subscription.renewed", subscription=current.id)
    return await get_subscription(db, current.id)


async def create(
    db: Database, link: Link, graph: GraphClient, public_url: str, now: float
) -> Subscription:
    notification_url, lifecycle_url = notification_urls(public_url)
    await _delete_orphans(db, graph, link, notification_url)
    client_state = secrets.token_urlsafe(48)  # 64 characters, under Graph's 128
    expires_at = now + LIFETIME_S
    created = await graph.create_subscription(
        RESOURCE,
        CHANGE_TYPE,
        notification_url,
        lifecycle_url,
        client_state,
        datetime.fromtimestamp(expires_at, UTC),
        application_id=link.client_id,
    )
    subscription = Subscription(
        id=str(created["id"]),
        link_id=link.id,
        resource=RESOURCE,
        client_state_hash=client_state_hash(client_state),
        expires_at=_expiry(created, expires_at),
        created_at=now,
        notification_url=notification_url,
    )
    await put_subscription(db, subscription)
    log.info("subscription.created", link=link.name, subscription=subscription.id)
    # A POST whose answer was lost and was sent again may have made two: keep this one.
    await _delete_orphans(db, graph, link, notification_url)
    return subscription


async def forget(db: Database, subscription_id: str) -> None:
    await delete_subscription(db, subscription_id)


async def _delete_orphans(
    db: Database, graph: GraphClient, link: Link, notification_url: str
) -> None:
    """Our subscriptions (same resource, changeType, URL and app) that we hold no record
    of can only deliver notifications we would drop: remove them, so exactly one stays
    (they also count against the quota of 100 per app and tenant). Graph's reads carry no
    clientState, so these fields are all that tells ours apart; another app's are kept."""
    ours = find_ours(
        await graph.list_subscriptions(),
        resource=RESOURCE,
        change_type=CHANGE_TYPE,
        notification_url=notification_url,
        application_id=link.client_id,
    )
    for remote in ours:
        if await get_subscription(db, str(remote["id"])) is None:
            log.info("subscription.orphan_deleted", subscription=remote["id"])
            await graph.delete_subscription(str(remote["id"]))


def failure_reason(exc: SyncError, public_url: str) -> str:
    """What the admin reads when Graph refused to create the subscription. Graph validates
    the notification URL from the internet and accepts only https:// with a certificate
    from a CA it trusts (no private or self-signed CA); 400 ValidationError or
    InvalidRequest on create is that check failing."""
    if isinstance(exc, GraphError) and exc.status == 400:
        if not public_url.lower().startswith("https://"):
            return (
                f"Graph accepts only https:// notification URLs; M365SYNC_PUBLIC_URL is "
                f"{public_url} ({exc})"
            )
        if exc.code in ("ValidationError", "InvalidRequest"):
            return (
                f"Graph could not validate {public_url}/graph/notifications: it must be "
                "reachable from the internet over HTTPS with a certificate from a public CA "
                f"(not a private or self-signed one) ({exc})"
            )
    return str(exc)


def _expiry(created: dict[str, object], fallback: float) -> float:
    value = created.get("expirationDateTime")
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            pass
    return fallback
