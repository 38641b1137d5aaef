"""The Microsoft Graph client: users, delta rounds, group members and subscriptions.

Links Graph hands back (`@odata.nextLink`, `@odata.deltaLink`) are followed verbatim,
but only on the origin of `base_url`: they carry our bearer token, which must never go
to another host. Every call shares one aiohttp session and the retry policy of
`worker.graph.transport`; failures surface as the worker's error tree (`worker.errors`).
"""

from __future__ import annotations

import asyncio
import random
import ssl as ssl_module
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, Self
from urllib.parse import quote

import aiohttp
import yarl

from worker.errors import GraphError, ResyncRequired, ThrottledError, TransientError
from worker.graph.auth import TokenProvider
from worker.graph.delta import NEXT_LINK, DeltaRound, Page, link_of, page_items
from worker.graph.retry import RetryPolicy
from worker.graph.subscriptions import (
    find_ours,
    format_expiration,
    pick_created,
    subscription_body,
)
from worker.graph.transport import GraphTransport, Sleep

USER_SELECT: tuple[str, ...] = (
    "id",
    "displayName",
    "givenName",
    "surname",
    "mail",
    "userPrincipalName",
    "businessPhones",
    "mobilePhone",
    "accountEnabled",
    "userType",
    "department",
    "jobTitle",
    "employeeId",
    # For group rules that take the number from an extension attribute. The 15 attributes
    # come as one complex property (resources/user.md: "individual extension attributes
    # are neither selectable nor filterable"); user-delta.md supports $select on
    # /users/delta and tracks the selected properties ("Only properties included in
    # $select are tracked", delta-query-users.md), naming only licenseAssignmentStates as
    # untracked, so both employeeId and onPremisesExtensionAttributes come back on delta.
    "onPremisesExtensionAttributes",
)

MAX_PAGE_SIZE = 999
USER_TYPE = "#microsoft.graph.user"
PREFER_MINIMAL = {"Prefer": "return=minimal"}


class GraphClient:
    """An async context manager holding one aiohttp session to Graph.

    With `connector` (a pool shared by many links, worker/connpool.py) the session
    borrows it and `ssl` is the connector's business; without, the session owns its own.

    `sleep` is what the client awaits between retries; tests pass a recorder to observe
    the waits without spending them. The token provider is borrowed, not closed here.
    """

    def __init__(
        self,
        base_url: str,
        tokens: TokenProvider,
        *,
        ssl: ssl_module.SSLContext | bool | None = None,
        connector: aiohttp.BaseConnector | None = None,
        connect_timeout_s: float = 10.0,
        read_timeout_s: float = 60.0,
        max_attempts: int = 5,
        max_retry_time_s: float = 120.0,
        backoff_base_s: float = 0.5,
        backoff_max_s: float = 30.0,
        page_size: int = MAX_PAGE_SIZE,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}")
        base = yarl.URL(base_url.rstrip("/"))
        if not base.is_absolute() or base.scheme not in ("https", "http"):
            raise ValueError(f"base_url must be an absolute http(s) URL, not {base_url!r}")
        self.base_url = str(base)
        self._origin = base.origin()
        self.page_size = page_size
        policy = RetryPolicy(max_attempts, max_retry_time_s, backoff_base_s, backoff_max_s)
        self._transport = GraphTransport(
            tokens,
            ssl=ssl,
            connector=connector,
            connect_timeout_s=connect_timeout_s,
            read_timeout_s=read_timeout_s,
            policy=policy,
            sleep=sleep,
            rng=rng or random.Random(),
        )

    async def __aenter__(self) -> Self:
        await self._transport.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        await self._transport.close()

    # Users

    async def iter_users(
        self, select: Sequence[str] = USER_SELECT
    ) -> AsyncIterator[list[dict[str, Any]]]:
        """Every user, a page (up to `page_size`) at a time."""
        url = self._url(f"/v1.0/users?$select={_select(select)}&$top={self.page_size}")
        async for items in self._paged(url):
            yield items

    async def get_user(
        self, user_id: str, select: Sequence[str] = USER_SELECT
    ) -> dict[str, Any] | None:
        """One user by id (or UPN); None when Graph has no such user."""
        url = self._url(f"/v1.0/users/{_segment(user_id)}?$select={_select(select)}")
        return await self._transport.send_json("GET", url, missing_ok=True)

    def delta_round(
        self,
        delta_link: str | None = None,
        *,
        select: Sequence[str] = USER_SELECT,
        minimal: bool = False,
    ) -> DeltaRound:
        """A round from a stored deltaLink (sent verbatim) or, with None, from scratch.

        `select` applies only from scratch: Graph keeps it inside the tokens. A stored
        link on another origin than `base_url` raises ResyncRequired when iterated.
        """
        url = delta_link or self._url(f"/v1.0/users/delta?$select={_select(select)}")
        headers = PREFER_MINIMAL if minimal else None
        return DeltaRound(lambda link: self._delta_page(link, headers), url)

    async def latest_delta_link(self, *, select: Sequence[str] = USER_SELECT) -> str:
        """A deltaLink for "from now on", without reading the users (`$deltatoken=latest`)."""
        url = self._url(f"/v1.0/users/delta?$select={_select(select)}&$deltatoken=latest")
        round_ = DeltaRound(lambda link: self._delta_page(link, None), url)
        async for _ in round_:
            pass
        return round_.delta_link

    # Groups

    async def iter_transitive_member_ids(self, group_id: str) -> AsyncIterator[str]:
        """Ids of the users in a group, nested groups included; groups and devices skipped."""
        path = f"/v1.0/groups/{_segment(group_id)}/transitiveMembers"
        url = self._url(f"{path}?$select=id&$top={self.page_size}")
        async for items in self._paged(url):
            for member in items:
                odata_type = member.get("@odata.type")
                member_id = member.get("id")
                is_user = isinstance(odata_type, str) and odata_type.lower() == USER_TYPE
                if is_user and isinstance(member_id, str):
                    yield member_id

    async def search_groups(self, prefix: str, *, limit: int = 20) -> list[tuple[str, str]]:
        """(id, displayName) of groups whose name starts with `prefix`: `$filter=startswith`
        needs no advanced query headers, unlike `$search` (learn.microsoft.com/graph/api/
        group-list; needs GroupMember.Read.All or wider, else 403)."""
        literal = prefix.replace("'", "''")
        query = quote(f"startswith(displayName,'{literal}')", safe="")
        url = self._url(f"/v1.0/groups?$filter={query}&$select=id,displayName&$top={limit}")
        page = await self._required_json("GET", url)
        return [
            (item["id"], str(item.get("displayName") or ""))
            for item in page_items(page)
            if isinstance(item.get("id"), str)
        ][:limit]

    async def group_display_name(self, group_id: str) -> str:
        """A group's displayName (`GET /groups/{id}?$select=id,displayName`, which needs
        GroupMember.Read.All or Group.Read.All); "" when it has none."""
        url = self._url(f"/v1.0/groups/{_segment(group_id)}?$select=id,displayName")
        group = await self._required_json("GET", url)
        name = group.get("displayName")
        return name if isinstance(name, str) else ""

    # Subscriptions

    async def create_subscription(
        self,
        resource: str,
        change_type: str,
        notification_url: str,
        lifecycle_url: str | None,
        client_state: str,
        expiration: datetime,
        *,
        application_id: str,
    ) -> dict[str, Any]:
        """POST a subscription; Graph validates the notification URL(s) before answering.

        A POST is not repeated blindly: after a network failure or gateway timeout the
        subscriptions are listed first, and ours is returned if it exists. Graph returns
        clientState as null on reads, so "ours" means the same resource, changeType,
        notificationUrl and applicationId (`application_id`, the app's client id); the
        caller removes any duplicates. Throttling (429, 503 with Retry-After) means
        nothing was created: it is raised as is.
        """
        body = subscription_body(
            resource=resource,
            change_type=change_type,
            notification_url=notification_url,
            lifecycle_url=lifecycle_url,
            client_state=client_state,
            expiration=expiration,
        )
        url = self._url("/v1.0/subscriptions")
        try:
            return await self._required_json("POST", url, json_body=body, idempotent=False)
        except ThrottledError:
            raise
        except TransientError:
            ours = find_ours(
                await self.list_subscriptions(),
                resource=resource,
                change_type=change_type,
                notification_url=notification_url,
                application_id=application_id,
            )
            existing = pick_created(ours, expiration)
            if existing is not None:
                return existing
            return await self._required_json("POST", url, json_body=body, idempotent=False)

    async def get_subscription(self, subscription_id: str) -> dict[str, Any] | None:
        url = self._url(f"/v1.0/subscriptions/{_segment(subscription_id)}")
        return await self._transport.send_json("GET", url, missing_ok=True)

    async def list_subscriptions(self) -> list[dict[str, Any]]:
        """All subscriptions of this app in the tenant (every page)."""
        found: list[dict[str, Any]] = []
        async for items in self._paged(self._url("/v1.0/subscriptions")):
            found.extend(items)
        return found

    async def renew_subscription(
        self, subscription_id: str, expiration: datetime
    ) -> dict[str, Any]:
        """PATCH a new expiration (this also reauthorizes the subscription)."""
        url = self._url(f"/v1.0/subscriptions/{_segment(subscription_id)}")
        body = {"expirationDateTime": format_expiration(expiration)}
        return await self._required_json("PATCH", url, json_body=body)

    async def delete_subscription(self, subscription_id: str) -> None:
        """DELETE; a subscription that is already gone counts as deleted."""
        url = self._url(f"/v1.0/subscriptions/{_segment(subscription_id)}")
        await self._transport.send_json("DELETE", url, missing_ok=True)

    async def reauthorize_subscription(self, subscription_id: str) -> None:
        url = self._url(f"/v1.0/subscriptions/{_segment(subscription_id)}/reauthorize")
        # Reauthorizing twice is harmless, so a lost answer may be retried.
        await self._transport.send_json("POST", url, idempotent=True)

    # Plumbing

    def _url(self, path_and_query: str) -> str:
        return self.base_url + path_and_query

    def _check_link(self, link: str, *, status: int) -> str:
        """A link from Graph may only point back at Graph: it will carry our token."""
        url = yarl.URL(link, encoded=True)
        if not url.is_absolute() or url.origin() != self._origin:
            where = url.origin() if url.is_absolute() else "a relative URL"
            raise GraphError(status, "untrustedLink", f"link to {where} refused")
        return link

    async def _paged(
        self, url: str, headers: Mapping[str, str] | None = None
    ) -> AsyncIterator[list[dict[str, Any]]]:
        next_url: str | None = url
        while next_url is not None:
            page = await self._required_json("GET", next_url, headers=headers)
            items = page_items(page)
            if items:
                yield items
            next_url = link_of(page, NEXT_LINK)
            if next_url is not None:
                self._check_link(next_url, status=200)

    async def _delta_page(self, url: str, headers: Mapping[str, str] | None) -> Page:
        try:
            self._check_link(url, status=200)
        except GraphError as exc:
            # A stored link from another Graph (say, the emulator) is as good as expired.
            raise ResyncRequired(f"delta link not on {self._origin}") from exc
        return await self._required_json("GET", url, headers=headers)

    async def _required_json(
        self,
        method: str,
        url: str,
        *,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool = True,
    ) -> dict[str, Any]:
        document = await self._transport.send_json(
            method, url, json_body=json_body, headers=headers, idempotent=idempotent
        )
        if document is None:
            raise GraphError(204, "invalidResponse", f"{method} {_path(url)}: empty response")
        return document


def _select(fields: Sequence[str]) -> str:
    return ",".join(quote(field, safe="") for field in fields)


def _segment(value: str) -> str:
    """An id (or UPN) as one path segment; refuses the empty id, which would change the URL."""
    if not value:
        raise ValueError("an id is required")
    return quote(value, safe="@")


def _path(url: str) -> str:
    return yarl.URL(url, encoded=True).path
