"""Run every check for one link. Read-only towards Microsoft 365 and the PBX (GETs, a token
request, and the handshake POST to our own public URL), and it writes nothing to the store."""

from __future__ import annotations

import ssl
import time

from store import Database
from store.directory import get_bindings, get_released_numbers
from store.links import get_secret
from store.models import Link
from store.subscriptions import link_subscriptions
from worker.doctor import credentials, microsoft, public
from worker.doctor.pbx import pbx_checks
from worker.doctor.report import Check, Report, failed
from worker.doctor.tokens import DoctorTokens, doctor_tokens
from worker.errors import SetupRequired
from worker.graph.client import GraphClient
from worker.linkctx import CLIENT_CERTIFICATE, PBX_PASSWORD, client_ssl
from worker.linksettings import link_policy_of
from worker.planner import Policy, PolicyError
from worker.settings import Settings
from worker.vodia.client import VodiaClient

# Short waits: an admin is looking at the screen, and a dead peer should fail in seconds.
GRAPH_ATTEMPTS = 2
PBX_RETRIES = 0


async def run_doctor(
    db: Database,
    link: Link,
    settings: Settings,
    *,
    public_trust: ssl.SSLContext | None = None,
    now: float | None = None,
) -> Report:
    """All checks of `link`. `public_trust` is the trust store for the public URL (the
    system's when None; tests pass one that trusts their CA)."""
    now = time.time() if now is None else now
    trust = public_trust if public_trust is not None else public.system_trust()
    try:
        policy = link_policy_of(link.settings)
    except PolicyError as exc:
        return Report(link.name, link.auth_mode.value, (_bad_policy(link, exc),))
    checks: list[Check] = []
    checks += await _microsoft_checks(db, link, settings, policy, now)
    checks += await public.public_checks(settings.public_url, trust)
    checks += await _pbx_checks(db, link, settings, policy, now)
    certificate = await get_secret(db, link.id, CLIENT_CERTIFICATE)
    checks.append(credentials.expiry_check(link, certificate, now))
    checks.append(credentials.state_check(link))
    return Report(link.name, link.auth_mode.value, tuple(_ordered(checks)))


async def _microsoft_checks(
    db: Database, link: Link, settings: Settings, policy: Policy, now: float
) -> list[Check]:
    tokens: DoctorTokens | None = None
    setup: SetupRequired | None = None
    try:
        tokens = await doctor_tokens(db, link, settings)
    except SetupRequired as exc:
        setup = exc
    try:
        token_check, token = await microsoft.fetch_token(tokens, link, setup)
        checks = [
            microsoft.tenant_check(link, token),
            token_check,
            microsoft.permissions_check(link, policy, token),
        ]
        graph_ssl = client_ssl(link, settings)
        reach = await microsoft.graph_reachable(link, graph_ssl)
        checks.append(reach)
        blocker = None if reach.ok else microsoft.GRAPH
        blocker = blocker or (None if token_check.ok else token_check.title)
        graph = _graph_client(link, tokens, graph_ssl) if tokens is not None else None
        if graph is not None:
            await graph.__aenter__()
        try:
            checks.append(await microsoft.users_check(graph, link, blocker))
            groups = await microsoft.groups_check(graph, link, policy, blocker)
            if groups is not None:
                checks.append(groups)
            stored = await link_subscriptions(db, link.id)
            checks += await microsoft.subscription_checks(
                graph, stored, settings.public_url, blocker, now
            )
        finally:
            if graph is not None:
                await graph.close()
    finally:
        if tokens is not None:
            await tokens.close()
    return checks


def _graph_client(
    link: Link, tokens: DoctorTokens, graph_ssl: ssl.SSLContext | None
) -> GraphClient | None:
    try:
        return GraphClient(
            link.graph_url,
            tokens,
            ssl=graph_ssl,
            max_attempts=GRAPH_ATTEMPTS,
            max_retry_time_s=10.0,
            connect_timeout_s=10.0,
            read_timeout_s=20.0,
        )
    except ValueError:
        return None  # an unusable graph_url: the reachability check has said so


async def _pbx_checks(
    db: Database, link: Link, settings: Settings, policy: Policy, now: float
) -> list[Check]:
    password = await get_secret(db, link.id, PBX_PASSWORD)
    bindings = await get_bindings(db, link.id)
    released = await get_released_numbers(db, link.id)
    if password is None:
        return await pbx_checks(None, link, policy, bindings, released, now, True)
    pbx_ssl = client_ssl(link, settings) if link.pbx_url.startswith("https:") else None
    client = VodiaClient(
        link.pbx_url,
        link.pbx_domain,
        link.pbx_user,
        password,
        ssl=pbx_ssl,
        retries=PBX_RETRIES,
        timeout_s=15.0,
    )
    async with client:
        return await pbx_checks(client, link, policy, bindings, released, now, False)


def _bad_policy(link: Link, exc: PolicyError) -> Check:
    return failed(
        "settings",
        "Link settings are valid",
        str(exc),
        "Correct the setting on the link's Settings page (or `m365sync link set "
        f"{link.name} KEY=VALUE`).",
    )


# The order of docs/troubleshooting.md's doctor table.
ORDER = (
    "tenant_id",
    "token",
    "permissions",
    "graph",
    "graph_users",
    "graph_groups",
    "public_url_https",
    "public_url_certificate",
    "public_url_handshake",
    "subscription",
    "subscription_url",
    "subscription_expiry",
    "pbx_answers",
    "pbx_credentials",
    "pbx_api_access",
    "pbx_domain",
    "pbx_range",
    "credential_expiry",
    "setup_required",
)


def _ordered(checks: list[Check]) -> list[Check]:
    rank = {check_id: i for i, check_id in enumerate(ORDER)}
    return sorted(checks, key=lambda c: rank.get(c.id, len(ORDER)))
