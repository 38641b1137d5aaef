"""The Microsoft side: tenant id, token, permissions, Graph reads and the subscription.

Everything here reads. The subscription is looked up with GET; nothing is created, renewed
or deleted (the daemon's maintenance does that)."""

from __future__ import annotations

import ssl
from collections.abc import Sequence
from datetime import datetime

import aiohttp

from store.models import AuthMode, Link, Subscription
from worker.doctor import fixes
from worker.doctor.claims import (
    UnreadableToken,
    granted,
    is_guid,
    missing_permissions,
    required_permissions,
)
from worker.doctor.report import Check, failed, not_checked, passed
from worker.doctor.tokens import DoctorTokens
from worker.errors import GraphError, SetupRequired, SyncError, TransientError
from worker.graph.client import GraphClient
from worker.planner import Policy
from worker.subscriptions import notification_urls

TENANT = "Tenant id is a GUID"
GRAPH = "Microsoft Graph is reachable"
USERS = "Graph lets the app read users"
GROUPS = "Graph lets the app read the scope's group members"
SUB_EXISTS = "Change-notification subscription exists on Graph"
SUB_URL = "Subscription points at the public URL"
SUB_EXPIRY = "Subscription is not near expiry"
# The daemon renews at half of the ~29-day lifetime; this little left means it has not.
NEAR_EXPIRY_S = 3 * 86400.0


def token_title(link: Link) -> str:
    return f"Token obtained ({link.auth_mode.value} mode)"


def permissions_title(policy: Policy) -> str:
    return f"Token carries {' and '.join(required_permissions(policy.scope))}"


async def fetch_token(
    tokens: DoctorTokens | None, link: Link, setup: SetupRequired | None
) -> tuple[Check, str | None]:
    title = token_title(link)
    if tokens is None:
        assert setup is not None
        return failed(
            "token", title, setup.reason, fixes.for_setup_required(setup, link.name)
        ), None
    try:
        token = await tokens.get_token()
    except SetupRequired as exc:
        return failed("token", title, exc.reason, fixes.for_setup_required(exc, link.name)), None
    except TransientError as exc:
        fix = fixes.IDENTITY_UNREACHABLE.format(url=link.authority_url)
        return failed("token", title, str(exc), fix), None
    except SyncError as exc:
        return failed("token", title, str(exc), "See the detail; then run the check again."), None
    except ValueError as exc:  # an authority URL azure-identity or MSAL cannot use
        fix = (
            f"Correct the link's authority_url: `m365sync link set {link.name} authority_url=...`."
        )
        return failed("token", title, str(exc), fix), None
    return passed("token", title, f"from {link.authority_url}"), token


def tenant_check(link: Link, token: str | None) -> Check:
    if is_guid(link.tenant_id):
        return passed("tenant_id", TENANT, link.tenant_id)
    guid = None
    if token is not None:
        try:
            guid = granted(token, delegated=False).tenant_id
        except UnreadableToken:
            guid = None
    value = guid or "the Directory (tenant) ID from Entra ID > Overview"
    return failed(
        "tenant_id",
        TENANT,
        f"tenant_id is {link.tenant_id!r}, not a GUID",
        "Change notifications carry the tenant's GUID, so with a domain every one is "
        f"dropped: `m365sync link set {link.name} tenant_id={value}`.",
    )


def permission_fix(link: Link, missing: Sequence[str]) -> str:
    names = " and ".join(missing)
    if link.auth_mode is AuthMode.DELEGATED:
        return (
            f"In Entra ID > App registrations > the app > API permissions add the Microsoft "
            f'Graph Delegated permission {names}, click "Grant admin consent", then click '
            '"OAuth Token" again and Save (Vodia manual: "Verify Microsoft 365 permissions '
            'are correctly granted").'
        )
    return (
        f"In Entra ID > App registrations > the app > API permissions add the Microsoft Graph "
        f'Application permission {names} and click "Grant admin consent" (Vodia manual: '
        '"Verify Microsoft 365 permissions are correctly granted").'
    )


def permissions_check(link: Link, policy: Policy, token: str | None) -> Check:
    title = permissions_title(policy)
    if token is None:
        return not_checked("permissions", title, token_title(link))
    delegated = link.auth_mode is AuthMode.DELEGATED
    try:
        have = granted(token, delegated=delegated)
    except UnreadableToken as exc:
        return failed(
            "permissions", title, f"the token's claims cannot be read: {exc}", fixes.ADMIN_CONSENT
        )
    missing = missing_permissions(have.permissions, required_permissions(policy.scope))
    shown = ", ".join(sorted(have.permissions)) or "none"
    if missing:
        detail = f"missing {', '.join(missing)}; `{have.claim}` has: {shown}"
        return failed("permissions", title, detail, permission_fix(link, missing))
    return passed("permissions", title, f"`{have.claim}`: {shown}")


async def graph_reachable(link: Link, ssl_context: ssl.SSLContext | None) -> Check:
    """Any HTTP answer from Graph (401 without a token is the normal one) proves the path."""
    url = f"{link.graph_url.rstrip('/')}/v1.0/"
    timeout = aiohttp.ClientTimeout(total=20, sock_connect=10)
    connector = aiohttp.TCPConnector(ssl=ssl_context if ssl_context is not None else True)
    try:
        async with (
            aiohttp.ClientSession(connector=connector, timeout=timeout) as session,
            session.get(url, allow_redirects=False) as response,
        ):
            status = response.status
    except aiohttp.ClientSSLError as exc:
        return failed(
            "graph",
            GRAPH,
            f"TLS failure talking to {link.graph_url}: {exc}",
            "Something between this host and Microsoft presents a certificate this host does "
            "not trust (a TLS-inspecting proxy): trust its CA with the link's --ca-bundle or "
            "M365SYNC_CA_BUNDLE, or exempt Microsoft's hosts from inspection.",
        )
    except (aiohttp.ClientError, TimeoutError) as exc:
        detail = f"no answer from {link.graph_url}: {type(exc).__name__}: {exc}"
        return failed("graph", GRAPH, detail, fixes.GRAPH_UNREACHABLE.format(url=link.graph_url))
    return passed("graph", GRAPH, f"{link.graph_url} answered (HTTP {status})")


def _graph_failure(check_id: str, title: str, link: Link, exc: SyncError, permission: str) -> Check:
    if isinstance(exc, GraphError) and exc.status == 403:
        return failed(check_id, title, str(exc), permission_fix(link, [permission]))
    if isinstance(exc, GraphError) and exc.status == 401:
        return failed(
            check_id,
            title,
            str(exc),
            "Graph did not accept the token: the link's tenant_id, authority_url and graph_url "
            "must belong to the same cloud and tenant (`m365sync link show "
            f"{link.name}`).",
        )
    if isinstance(exc, TransientError):
        return failed(
            check_id,
            title,
            str(exc),
            "Graph is failing or throttling right now: run the check again in a few minutes; "
            "if it persists, look at Microsoft 365 service health.",
        )
    return failed(check_id, title, str(exc), "See the detail; then run the check again.")


async def users_check(graph: GraphClient | None, link: Link, blocker: str | None) -> Check:
    if graph is None or blocker is not None:
        return not_checked("graph_users", USERS, blocker or GRAPH)
    try:
        await graph.latest_delta_link()
    except SyncError as exc:
        return _graph_failure("graph_users", USERS, link, exc, "User.Read.All")
    return passed("graph_users", USERS, "GET /v1.0/users/delta answered")


async def groups_check(
    graph: GraphClient | None, link: Link, policy: Policy, blocker: str | None
) -> Check | None:
    if policy.scope != "groups":
        return None
    if graph is None or blocker is not None:
        return not_checked("graph_groups", GROUPS, blocker or GRAPH)
    if not policy.group_ids:
        return failed(
            "graph_groups",
            GROUPS,
            "the scope is groups but no group is chosen",
            "Choose the groups on the link's Settings page (group_ids), or set the scope to "
            "All accounts.",
        )
    for group_id in policy.group_ids:
        try:
            async for _ in graph.iter_transitive_member_ids(group_id):
                break
        except GraphError as exc:
            if exc.status == 404:
                return failed(
                    "graph_groups",
                    GROUPS,
                    f"group {group_id} does not exist in the tenant",
                    "Fix group_ids on the link's Settings page: copy the group's Object ID "
                    "from Entra ID > Groups.",
                )
            return _graph_failure("graph_groups", GROUPS, link, exc, "GroupMember.Read.All")
        except SyncError as exc:
            return _graph_failure("graph_groups", GROUPS, link, exc, "GroupMember.Read.All")
    return passed("graph_groups", GROUPS, f"{len(policy.group_ids)} group(s) readable")


_UPKEEP_FIX = (
    "The daemon creates or recreates it on its next maintenance (every minute while "
    "`m365sync serve` runs). If it does not appear, the log line `subscription upkeep failed` "
    "and the subscription_failed alert say why — usually the validation handshake above."
)


async def subscription_checks(
    graph: GraphClient | None,
    stored: Sequence[Subscription],
    public_url: str | None,
    blocker: str | None,
    now: float,
) -> list[Check]:
    if public_url is None:
        return [
            failed(
                "subscription",
                SUB_EXISTS,
                "M365SYNC_PUBLIC_URL is not set, so there is none: changes arrive only by the "
                "sweep every 12 hours",
                "Set M365SYNC_PUBLIC_URL to the https address Microsoft reaches this daemon at "
                "(see docs/reverse-proxy.md) and restart it.",
            ),
            not_checked("subscription_url", SUB_URL, SUB_EXISTS),
            not_checked("subscription_expiry", SUB_EXPIRY, SUB_EXISTS),
        ]
    if graph is None or blocker is not None:
        return [
            not_checked(check_id, title, blocker or GRAPH)
            for check_id, title in (
                ("subscription", SUB_EXISTS),
                ("subscription_url", SUB_URL),
                ("subscription_expiry", SUB_EXPIRY),
            )
        ]
    if not stored:
        return [
            failed("subscription", SUB_EXISTS, "this link has no subscription yet", _UPKEEP_FIX),
            not_checked("subscription_url", SUB_URL, SUB_EXISTS),
            not_checked("subscription_expiry", SUB_EXPIRY, SUB_EXISTS),
        ]
    ours = stored[0]
    try:
        remote = await graph.get_subscription(ours.id)
    except SyncError as exc:
        return [
            failed("subscription", SUB_EXISTS, str(exc), _UPKEEP_FIX),
            not_checked("subscription_url", SUB_URL, SUB_EXISTS),
            not_checked("subscription_expiry", SUB_EXPIRY, SUB_EXISTS),
        ]
    if remote is None:
        return [
            failed(
                "subscription",
                SUB_EXISTS,
                f"Graph no longer has subscription {ours.id} (expired or removed)",
                _UPKEEP_FIX,
            ),
            not_checked("subscription_url", SUB_URL, SUB_EXISTS),
            not_checked("subscription_expiry", SUB_EXPIRY, SUB_EXISTS),
        ]
    return [
        passed("subscription", SUB_EXISTS, f"id {ours.id}"),
        _url_check(remote, public_url),
        _expiry_check(remote, now),
    ]


def _url_check(remote: dict[str, object], public_url: str) -> Check:
    expected, _ = notification_urls(public_url)
    actual = remote.get("notificationUrl")
    if actual == expected:
        return passed("subscription_url", SUB_URL, expected)
    return failed(
        "subscription_url",
        SUB_URL,
        f"it delivers to {actual!r}, not {expected!r}",
        "The public URL changed: the daemon replaces the subscription on its next maintenance. "
        "Make sure `m365sync serve` and this command see the same M365SYNC_PUBLIC_URL.",
    )


def _expiry_check(remote: dict[str, object], now: float) -> Check:
    raw = remote.get("expirationDateTime")
    try:
        expires_at = datetime.fromisoformat(str(raw).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return failed(
            "subscription_expiry", SUB_EXPIRY, f"unreadable expirationDateTime {raw!r}", _UPKEEP_FIX
        )
    left_h = (expires_at - now) / 3600
    detail = f"expires {raw} (in {left_h:.0f} h)"
    if expires_at - now < NEAR_EXPIRY_S:
        return failed(
            "subscription_expiry",
            SUB_EXPIRY,
            detail,
            "The daemon renews it when half its lifetime (about 14 days) is left, and that has "
            "not happened: check that `m365sync serve` is running and look for "
            "`subscription upkeep failed` in its log.",
        )
    return passed("subscription_expiry", SUB_EXPIRY, detail)
