"""GraphClient against the Graph emulator on loopback: users, delta, members, failures, tokens."""

from __future__ import annotations

import random
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest

from emulators.faults import FaultRule
from emulators.graph.server import GraphEmulator
from worker.errors import ResyncRequired, ThrottledError, TransientError
from worker.graph.auth import (
    ApplicationTokenProvider,
    AuthConfig,
    DelegatedTokenProvider,
    TokenProvider,
    finish_auth_code_flow,
    start_auth_code_flow,
)
from worker.graph.client import USER_SELECT, GraphClient
from worker.graph.delta import DeltaRound, DeltaRoundIncomplete

MakeGraphEmulator = Callable[..., Awaitable[GraphEmulator]]
USERS_PATH = r"^/v1\.0/users$"
REDIRECT = "https://127.0.0.1:9/oauth/callback"


class Waits(list[float]):
    """An injected `sleep` that records each wait instead of spending it."""

    async def __call__(self, delay_s: float) -> None:
        self.append(delay_s)


class CountingTokens:
    """Wraps a real provider to count forced refreshes."""

    def __init__(self, inner: TokenProvider) -> None:
        self.inner = inner
        self.forced = 0

    async def get_token(self, *, force_refresh: bool = False) -> str:
        self.forced += force_refresh
        return await self.inner.get_token(force_refresh=force_refresh)

    async def close(self) -> None:
        await self.inner.close()


class MemoryCacheStore:
    """The delegated provider's TokenCacheStore, in memory."""

    def __init__(self) -> None:
        self.blob: str | None = None

    async def load(self) -> str | None:
        return self.blob

    async def save(self, blob: str) -> None:
        self.blob = blob


def auth_config(emulator: GraphEmulator) -> AuthConfig:
    tenant = emulator.config.tenant
    return AuthConfig(
        tenant.tenant_id,
        tenant.client_id,
        authority_url=emulator.url,
        graph_url=emulator.url,
        ca_bundle=emulator.ca_path,
    )


def app_tokens(emulator: GraphEmulator) -> CountingTokens:
    secret = emulator.config.tenant.client_secret
    return CountingTokens(ApplicationTokenProvider(auth_config(emulator), client_secret=secret))


async def delegated_tokens(emulator: GraphEmulator) -> CountingTokens:
    """The Vodia manual's "OAuth Token" step against the emulator, then a delegated provider."""
    config, secret = auth_config(emulator), emulator.config.tenant.client_secret
    store = MemoryCacheStore()
    flow = await start_auth_code_flow(config, secret, redirect_uri=REDIRECT, state="st-1")
    connector = aiohttp.TCPConnector(ssl=emulator.client_ssl_context())
    async with (
        aiohttp.ClientSession(connector=connector) as http,
        http.get(flow["auth_uri"], allow_redirects=False) as response,
    ):
        page = await response.text()
    reply = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', page))
    await finish_auth_code_flow(config, secret, store, flow, reply)
    return CountingTokens(DelegatedTokenProvider(config, secret, store))


@asynccontextmanager
async def graph_client(
    emulator: GraphEmulator,
    waits: Waits | None = None,
    tokens: CountingTokens | None = None,
    **options: Any,
) -> AsyncIterator[GraphClient]:
    """A GraphClient with real tokens (app tokens unless given) from the emulator."""
    tokens = tokens or app_tokens(emulator)
    options.setdefault("rng", random.Random(5))
    try:
        async with GraphClient(
            emulator.url,
            tokens,
            ssl=emulator.client_ssl_context(),
            sleep=waits if waits is not None else Waits(),
            **options,
        ) as client:
            yield client
    finally:
        await tokens.close()


async def read_round(delta_round: DeltaRound) -> list[dict[str, Any]]:
    return [user async for page in delta_round for user in page]


def by_id(users: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {user["id"]: user for user in users}


def new_user(emulator: GraphEmulator, nickname: str, **extra: Any) -> str:
    domain = emulator.config.tenant.domain
    user = emulator.directory.create_user(
        accountEnabled=True,
        displayName=nickname.title(),
        mailNickname=nickname,
        userPrincipalName=f"{nickname}@{domain}",
        passwordProfile={"password": "Emulated-Passw0rd!"},
        **extra,
    )
    return str(user["id"])


class TestUsers:
    async def test_lists_every_user_in_pages_of_999(
        self, make_graph_emulator: MakeGraphEmulator
    ) -> None:
        """2,500 users come back in pages of 999, 999 and 502, each with the planner fields."""
        emulator = await make_graph_emulator(seed_users=2500)
        async with graph_client(emulator) as client:
            pages = [page async for page in client.iter_users()]
        assert [len(page) for page in pages] == [999, 999, 502]
        ids = [user["id"] for page in pages for user in page]
        assert sorted(ids) == sorted(emulator.directory.active_ids())
        assert {"accountEnabled", "userType", "employeeId"} <= set(pages[0][0])
        assert set(pages[0][0]) <= {*USER_SELECT, "@odata.type"}

    async def test_get_user_and_a_missing_one(self, make_graph_emulator: MakeGraphEmulator) -> None:
        """get_user returns the user by id, and None for an id the tenant doesn't have."""
        emulator = await make_graph_emulator(seed_users=3)
        user_id = emulator.directory.active_ids()[0]
        async with graph_client(emulator) as client:
            user = await client.get_user(user_id)
            missing = await client.get_user(str(uuid.uuid4()))
        assert user is not None
        assert user["id"] == user_id
        assert "accountEnabled" in user
        assert missing is None


class TestDelta:
    async def test_full_round_then_each_kind_of_change(
        self, make_graph_emulator: MakeGraphEmulator
    ) -> None:
        """From scratch every user; then create, update, soft delete, restore, hard delete."""
        emulator = await make_graph_emulator(seed_users=250)
        directory = emulator.directory
        updated, soft_deleted, restored, hard_deleted = directory.active_ids()[:4]
        directory.soft_delete_user(restored)
        async with graph_client(emulator) as client:
            first = client.delta_round()
            everyone = by_id(await read_round(first))
            assert set(everyone) == set(directory.active_ids())
            assert first.pages_read > 1

            created = new_user(emulator, "newcomer")
            directory.update_user(updated, jobTitle="Chief Tester")
            directory.soft_delete_user(soft_deleted)
            directory.restore_user(restored)
            directory.hard_delete_user(hard_deleted)
            second = client.delta_round(first.delta_link)
            changes = by_id(await read_round(second))

        assert set(changes) == {created, updated, soft_deleted, restored, hard_deleted}
        assert changes[created]["userPrincipalName"].startswith("newcomer@")
        assert changes[updated]["jobTitle"] == "Chief Tester"
        assert changes[soft_deleted]["@removed"] == {"reason": "changed"}
        assert "@removed" not in changes[restored]
        assert changes[hard_deleted]["@removed"] == {"reason": "deleted"}
        assert second.delta_link != first.delta_link

    async def test_minimal_round_returns_only_changed_properties(
        self, make_graph_emulator: MakeGraphEmulator
    ) -> None:
        """With Prefer: return=minimal an updated user carries only what changed."""
        emulator = await make_graph_emulator(seed_users=5)
        user_id = emulator.directory.active_ids()[0]
        async with graph_client(emulator) as client:
            start = await client.latest_delta_link()
            emulator.directory.update_user(user_id, jobTitle="Tester")
            changes = await read_round(client.delta_round(start, minimal=True))
        assert len(changes) == 1
        assert changes[0]["jobTitle"] == "Tester"
        assert "displayName" not in changes[0]

    async def test_latest_link_starts_from_now(
        self, make_graph_emulator: MakeGraphEmulator
    ) -> None:
        """A $deltatoken=latest link skips existing users and sees only later changes."""
        emulator = await make_graph_emulator(seed_users=50)
        async with graph_client(emulator) as client:
            link = await client.latest_delta_link()
            created = new_user(emulator, "later")
            changes = await read_round(client.delta_round(link))
        assert [user["id"] for user in changes] == [created]

    async def test_410_mid_round_raises_and_withholds_the_link(
        self, make_graph_emulator: MakeGraphEmulator
    ) -> None:
        """A 410 on the second page raises ResyncRequired; the round never yields a link."""
        emulator = await make_graph_emulator(seed_users=10)
        async with graph_client(emulator) as client:
            stored = await client.latest_delta_link()
            emulator.directory.seed(450, seed=2)  # more than one delta page of changes
            delta_round = client.delta_round(stored)
            pages = aiter(delta_round)
            first_page = await anext(pages)
            emulator.arm_delta_gone()
            with pytest.raises(ResyncRequired, match="410"):
                await anext(pages)
            full = await read_round(client.delta_round())
        assert first_page
        assert not delta_round.complete
        with pytest.raises(DeltaRoundIncomplete):
            _ = delta_round.delta_link
        assert len(full) == 460

    async def test_expired_delta_token_raises_resync(
        self, make_graph_emulator: MakeGraphEmulator
    ) -> None:
        """A deltaLink whose token has expired (syncStateNotFound) raises ResyncRequired."""
        emulator = await make_graph_emulator(seed_users=3)
        async with graph_client(emulator) as client:
            stored = await client.latest_delta_link()
            emulator.expire_delta_tokens()
            with pytest.raises(ResyncRequired):
                await read_round(client.delta_round(stored))


class TestFailures:
    async def test_429_retry_after_is_honoured(
        self, make_graph_emulator: MakeGraphEmulator
    ) -> None:
        """Two 429s with Retry-After: 3 make the client wait 3 s twice, then list the users."""
        emulator = await make_graph_emulator(seed_users=20)
        rule = emulator.faults.add(
            FaultRule(USERS_PATH, kind="status", status=429, retry_after_s=3, count=2)
        )
        waits = Waits()
        async with graph_client(emulator, waits) as client:
            users = [user async for page in client.iter_users() for user in page]
        assert len(users) == 20
        assert rule.hits == 2
        assert waits == [3.0, 3.0]

    async def test_503_storm_is_capped_then_recovers(
        self, make_graph_emulator: MakeGraphEmulator
    ) -> None:
        """A 503 storm ends in TransientError after max_attempts; a shorter one is ridden out."""
        emulator = await make_graph_emulator(seed_users=5)
        storm = emulator.faults.add(FaultRule(USERS_PATH, kind="status", status=503, count=-1))
        waits = Waits()
        async with graph_client(emulator, waits, max_attempts=4) as client:
            with pytest.raises(TransientError) as caught:
                await anext(aiter(client.iter_users()))
            assert not isinstance(caught.value, ThrottledError)
            assert storm.hits == 4
            assert len(waits) == 3
            emulator.faults.clear()
            emulator.faults.add(FaultRule(USERS_PATH, kind="status", status=503, count=3))
            users = [user async for page in client.iter_users() for user in page]
        assert len(users) == 5

    async def test_connection_reset_is_retried(
        self, make_graph_emulator: MakeGraphEmulator
    ) -> None:
        """A connection the emulator resets is retried and the page read."""
        emulator = await make_graph_emulator(seed_users=5)
        rule = emulator.faults.add(FaultRule(USERS_PATH, kind="reset", count=1))
        async with graph_client(emulator) as client:
            users = [user async for page in client.iter_users() for user in page]
        assert rule.hits == 1
        assert len(users) == 5

    @pytest.mark.parametrize("mode", ["application", "delegated"])
    async def test_token_refresh_across_expiry(
        self, make_graph_emulator: MakeGraphEmulator, mode: str
    ) -> None:
        """Past the token's hour Graph answers 401; the client refreshes once and goes on."""
        emulator = await make_graph_emulator(seed_users=5)
        tokens = app_tokens(emulator) if mode == "application" else await delegated_tokens(emulator)
        async with graph_client(emulator, tokens=tokens) as client:
            assert await client.get_user(emulator.directory.active_ids()[0]) is not None
            assert tokens.forced == 0
            emulator.advance_clock(3700)
            users = [user async for page in client.iter_users() for user in page]
        assert len(users) == 5
        assert tokens.forced == 1


class TestGroups:
    async def test_transitive_members_are_users_only_across_pages(
        self, make_graph_emulator: MakeGraphEmulator
    ) -> None:
        """Nested groups' users are included, groups themselves are not, over several pages."""
        emulator = await make_graph_emulator(
            seed_users=6, app_roles=("User.Read.All", "GroupMember.Read.All")
        )
        directory = emulator.directory
        users = directory.active_ids()
        outer = directory.groups.create({"displayName": "Outer", "mailNickname": "outer"})["id"]
        inner = directory.groups.create({"displayName": "Inner", "mailNickname": "inner"})["id"]
        for user_id in users[:3]:
            directory.groups.add_member(outer, user_id)
        directory.groups.add_member(outer, inner)
        for user_id in users[3:5]:
            directory.groups.add_member(inner, user_id)
        async with graph_client(emulator, page_size=2) as client:
            member_ids = [member async for member in client.iter_transitive_member_ids(outer)]
        assert sorted(member_ids) == sorted(users[:5])
