"""GraphClient transport cases a real Graph can't produce on demand.

A scripted aiohttp server on loopback answers each request from a script: precise
statuses and headers, a connection reset mid-body, a connection dropped before the
answer. (aioresponses 0.7.9 cannot build responses for aiohttp 3.14 -- it misses the new
`stream_writer` argument, pnuckowski/aioresponses#289 -- and a real socket is truer anyway.)
"""

from __future__ import annotations

import asyncio
import json
import random
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from structlog.testing import capture_logs

from worker.errors import GraphError, ResyncRequired, ThrottledError, TransientError
from worker.graph.client import USER_SELECT, GraphClient
from worker.graph.delta import DeltaRoundIncomplete

USERS = r"^/v1\.0/users$"
DELTA = r"^/v1\.0/users/delta$"
SUBSCRIPTIONS = r"^/v1\.0/subscriptions$"
SECRET_TOKEN = "eyJ-secret-access-token"

AiohttpServer = Callable[[web.Application], Awaitable[TestServer]]


class StaticTokens:
    """A TokenProvider that counts refreshes and hands out numbered tokens."""

    def __init__(self) -> None:
        self.refreshes = 0
        self.closed = False

    async def get_token(self, *, force_refresh: bool = False) -> str:
        if force_refresh:
            self.refreshes += 1
        return f"{SECRET_TOKEN}-{self.refreshes}"

    async def close(self) -> None:
        self.closed = True


class Waits(list[float]):
    """An injected `sleep` that records each wait instead of spending it."""

    async def __call__(self, delay_s: float) -> None:
        self.append(delay_s)


@dataclass
class Step:
    """One scripted answer: a status with a JSON or text body, a mid-body reset, or a drop."""

    method: str
    path: str
    status: int = 200
    payload: Any = None
    body: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    kind: str = "respond"  # "respond" | "reset_mid_body" | "drop" | "hang"
    repeat: bool = False


@dataclass(frozen=True)
class Seen:
    method: str
    raw_path: str
    headers: dict[str, str]
    json: Any


class ScriptedGraph:
    """Answers requests from a script, in order, and records what it was sent."""

    def __init__(self) -> None:
        self.steps: list[Step] = []
        self.seen: list[Seen] = []
        self.url = ""
        self.release = asyncio.Event()  # ends "hang" steps

    def add(self, method: str, path: str, **answer: Any) -> None:
        self.steps.append(Step(method, path, **answer))

    def _take(self, request: web.Request) -> Step | None:
        for step in self.steps:
            if step.method == request.method and re.search(step.path, request.path):
                if not step.repeat:
                    self.steps.remove(step)
                return step
        return None

    async def handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        self.seen.append(
            Seen(request.method, request.raw_path, dict(request.headers),
                 json.loads(raw) if raw else None)
        )  # fmt: skip
        step = self._take(request)
        if step is None:
            return web.json_response({"error": {"code": "unscripted"}}, status=418)
        if step.kind == "drop":
            _abort(request)
        if step.kind == "hang":
            await self.release.wait()
        if step.kind == "reset_mid_body":
            response = web.StreamResponse(headers={"Content-Length": "1000"})
            await response.prepare(request)
            await response.write(b'{"value": [{"id": "u')
            _abort(request)
        if step.payload is not None:
            return web.json_response(step.payload, status=step.status, headers=step.headers)
        return web.Response(status=step.status, text=step.body, headers=step.headers)


def _abort(request: web.Request) -> None:
    assert request.transport is not None
    request.transport.abort()
    raise asyncio.CancelledError  # aiohttp drops the request without an answer


@pytest.fixture(name="graph")
async def _graph(aiohttp_server: AiohttpServer) -> AsyncIterator[ScriptedGraph]:
    graph = ScriptedGraph()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", graph.handle)
    server = await aiohttp_server(app)
    graph.url = str(server.make_url("")).rstrip("/")
    yield graph
    graph.release.set()


@pytest.fixture(name="tokens")
def _tokens() -> StaticTokens:
    return StaticTokens()


@pytest.fixture(name="waits")
def _waits() -> Waits:
    return Waits()


@pytest.fixture(name="client")
async def _client(
    graph: ScriptedGraph, tokens: StaticTokens, waits: Waits
) -> AsyncIterator[GraphClient]:
    async with GraphClient(
        graph.url, tokens, sleep=waits, max_attempts=4, max_retry_time_s=60, rng=random.Random(7)
    ) as client:
        yield client


def users_page(*ids: str, next_link: str | None = None) -> dict[str, Any]:
    page: dict[str, Any] = {"value": [{"id": i, "displayName": i} for i in ids]}
    if next_link:
        page["@odata.nextLink"] = next_link
    return page


def graph_error(code: str, message: str = "nope", request_id: str = "rid-1") -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "innerError": {"request-id": request_id}}}


async def all_users(client: GraphClient) -> list[str]:
    return [user["id"] async for page in client.iter_users() for user in page]


class TestRetries:
    async def test_retry_after_seconds_is_waited_exactly(
        self, client: GraphClient, graph: ScriptedGraph, waits: Waits
    ) -> None:
        """A 429 with Retry-After: 7 makes the client sleep exactly 7 s, then succeed."""
        graph.add("GET", USERS, status=429, headers={"Retry-After": "7"}, payload=graph_error("x"))
        graph.add("GET", USERS, payload=users_page("u1"))
        assert await all_users(client) == ["u1"]
        assert waits == [7.0]

    async def test_retry_after_http_date_is_honoured(
        self, client: GraphClient, graph: ScriptedGraph, waits: Waits
    ) -> None:
        """A Retry-After given as an HTTP date is turned into the seconds until then."""
        when = datetime.now(UTC) + timedelta(seconds=30)
        graph.add(
            "GET", USERS, status=503, headers={"Retry-After": format_datetime(when, usegmt=True)}
        )
        graph.add("GET", USERS, payload=users_page("u1"))
        assert await all_users(client) == ["u1"]
        assert len(waits) == 1
        assert 27 <= waits[0] <= 30

    async def test_without_retry_after_backs_off_with_full_jitter(
        self, client: GraphClient, graph: ScriptedGraph, waits: Waits
    ) -> None:
        """503s without Retry-After wait random amounts under a doubling ceiling."""
        for _ in range(3):
            graph.add("GET", USERS, status=503)
        graph.add("GET", USERS, payload=users_page("u1"))
        assert await all_users(client) == ["u1"]
        assert len(waits) == 3
        for attempt, wait_s in enumerate(waits, start=1):
            assert 0 <= wait_s <= 0.5 * 2 ** (attempt - 1)

    async def test_429_past_max_attempts_raises_throttled(
        self, client: GraphClient, graph: ScriptedGraph, waits: Waits
    ) -> None:
        """After max_attempts throttled answers, ThrottledError carries the last Retry-After."""
        graph.add("GET", USERS, status=429, headers={"Retry-After": "2"}, repeat=True)
        with pytest.raises(ThrottledError) as caught:
            await all_users(client)
        assert caught.value.retry_after_s == 2.0
        assert waits == [2.0, 2.0, 2.0]
        assert len(graph.seen) == 4

    async def test_retry_after_beyond_time_cap_is_not_waited(
        self, client: GraphClient, graph: ScriptedGraph, waits: Waits
    ) -> None:
        """A Retry-After longer than max_retry_time_s raises at once for the caller to defer."""
        graph.add("GET", USERS, status=429, headers={"Retry-After": "300"})
        with pytest.raises(ThrottledError) as caught:
            await all_users(client)
        assert caught.value.retry_after_s == 300.0
        assert waits == []

    async def test_504_storm_ends_in_transient_error(
        self, client: GraphClient, graph: ScriptedGraph, waits: Waits
    ) -> None:
        """Gateway timeouts without Retry-After end, capped, in a TransientError."""
        graph.add("GET", USERS, status=504, body="<html>gateway</html>", repeat=True)
        with pytest.raises(TransientError) as caught:
            await all_users(client)
        assert not isinstance(caught.value, ThrottledError)
        assert len(waits) == 3


class TestNetworkFailures:
    async def test_reset_mid_body_is_retried(
        self, client: GraphClient, graph: ScriptedGraph, waits: Waits
    ) -> None:
        """A payload cut off mid-body (ClientPayloadError) is retried and the page read again."""
        graph.add("GET", USERS, kind="reset_mid_body")
        graph.add("GET", USERS, payload=users_page("u1", "u2"))
        assert await all_users(client) == ["u1", "u2"]
        assert len(waits) == 1

    async def test_server_disconnect_is_retried_for_get(
        self, client: GraphClient, graph: ScriptedGraph
    ) -> None:
        """A dropped connection on a GET is retried."""
        graph.add("GET", USERS, kind="drop")
        graph.add("GET", USERS, payload=users_page("u1"))
        assert await all_users(client) == ["u1"]

    async def test_read_timeout_is_retried(
        self, graph: ScriptedGraph, tokens: StaticTokens, waits: Waits
    ) -> None:
        """A server that stops answering trips read_timeout_s, and the GET is retried."""
        graph.add("GET", USERS, kind="hang")
        graph.add("GET", USERS, payload=users_page("u1"))
        async with GraphClient(graph.url, tokens, read_timeout_s=0.2, sleep=waits) as client:
            assert await all_users(client) == ["u1"]
        assert len(graph.seen) == 2
        assert len(waits) == 1

    async def test_persistent_network_failure_raises_transient(
        self, client: GraphClient, graph: ScriptedGraph, waits: Waits
    ) -> None:
        """Network errors past max_attempts become a TransientError."""
        graph.add("GET", USERS, kind="drop", repeat=True)
        with pytest.raises(TransientError, match="ServerDisconnectedError"):
            await all_users(client)
        assert len(waits) == 3

    async def test_subscription_post_lost_answer_finds_existing(
        self, client: GraphClient, graph: ScriptedGraph
    ) -> None:
        """A POST whose answer was lost is not repeated when the list shows it was created:
        found by resource, changeType, notificationUrl and applicationId, as Graph's
        reads carry clientState null."""
        graph.add("POST", SUBSCRIPTIONS, kind="drop")
        ours = {"resource": "users", "changeType": "deleted,updated", "clientState": None}
        created = {"id": "sub-1", "notificationUrl": "https://h/n", "applicationId": "APP", **ours}
        other_app = {**created, "id": "other-app", "applicationId": "someone-else"}
        other_url = {**created, "id": "other-url", "notificationUrl": "https://h/x"}
        listed = [{"id": "other"}, other_app, other_url, created]
        graph.add("GET", SUBSCRIPTIONS, payload={"value": listed})
        result = await client.create_subscription(
            "users", "updated,deleted", "https://h/n", None, "state-1", _soon(),
            application_id="app",
        )  # fmt: skip
        assert result == created
        posts = [seen for seen in graph.seen if seen.method == "POST"]
        assert len(posts) == 1

    async def test_throttled_subscription_post_is_not_looked_up(
        self, client: GraphClient, graph: ScriptedGraph, waits: Waits
    ) -> None:
        """A POST throttled to the end raises ThrottledError without listing or re-posting."""
        graph.add("POST", SUBSCRIPTIONS, status=429, headers={"Retry-After": "1"}, repeat=True)
        with pytest.raises(ThrottledError):
            await client.create_subscription(
                "users", "updated", "https://h/n", None, "s", _soon(), application_id="app"
            )
        assert {seen.method for seen in graph.seen} == {"POST"}
        assert len(graph.seen) == 4
        assert waits == [1.0, 1.0, 1.0]

    async def test_subscription_post_lost_answer_posts_again_when_absent(
        self, client: GraphClient, graph: ScriptedGraph
    ) -> None:
        """A POST whose answer was lost is sent once more when the list doesn't show it."""
        graph.add("POST", SUBSCRIPTIONS, kind="drop")
        graph.add("GET", SUBSCRIPTIONS, payload={"value": []})
        graph.add("POST", SUBSCRIPTIONS, status=201, payload={"id": "sub-2", "clientState": "s"})
        result = await client.create_subscription(
            "users", "updated,deleted", "https://h/n", "https://h/l", "s", _soon(),
            application_id="app",
        )  # fmt: skip
        assert result["id"] == "sub-2"
        body = [seen.json for seen in graph.seen if seen.method == "POST"][-1]
        assert body["lifecycleNotificationUrl"] == "https://h/l"
        assert body["expirationDateTime"].endswith("Z")


class TestStatuses:
    async def test_410_with_location_raises_resync_and_hides_delta_link(
        self, client: GraphClient, graph: ScriptedGraph
    ) -> None:
        """410 Gone (with Location) on a stored link raises ResyncRequired; no deltaLink."""
        stored = f"{graph.url}/v1.0/users/delta?$deltatoken=old"
        location = f"{graph.url}/v1.0/users/delta?$deltatoken="
        graph.add("GET", DELTA, status=410, headers={"Location": location})
        delta_round = client.delta_round(stored)
        with pytest.raises(ResyncRequired, match="410"):
            async for _ in delta_round:
                pass
        with pytest.raises(DeltaRoundIncomplete):
            _ = delta_round.delta_link

    @pytest.mark.parametrize("code", ["syncStateNotFound", "resyncRequired"])
    async def test_expired_token_codes_raise_resync(
        self, client: GraphClient, graph: ScriptedGraph, code: str
    ) -> None:
        """400 with syncStateNotFound or resyncRequired raises ResyncRequired."""
        graph.add("GET", DELTA, status=400, payload=graph_error(code))
        with pytest.raises(ResyncRequired):
            async for _ in client.delta_round(f"{graph.url}/v1.0/users/delta?$deltatoken=t"):
                pass

    async def test_403_carries_code_message_and_request_id(
        self, client: GraphClient, graph: ScriptedGraph
    ) -> None:
        """A 403 becomes a GraphError with Graph's code, message and request-id."""
        body = {
            "error": {
                "code": "Authorization_RequestDenied",
                "message": "Insufficient privileges to complete the operation.",
                "innererror": {"date": "2026-01-01T00:00:00", "request-id": "abc-123"},
            }
        }
        graph.add("GET", USERS, status=403, payload=body)
        with pytest.raises(GraphError) as caught:
            await all_users(client)
        error = caught.value
        assert (error.status, error.code, error.request_id) == (
            403,
            "Authorization_RequestDenied",
            "abc-123",
        )
        assert error.graph_message.startswith("Insufficient privileges")

    async def test_non_json_4xx_is_still_a_graph_error(
        self, client: GraphClient, graph: ScriptedGraph
    ) -> None:
        """An HTML 400 from a proxy still maps to GraphError, with the request-id header."""
        graph.add("GET", USERS, status=400, body="<html>bad</html>", headers={"request-id": "h-1"})
        with pytest.raises(GraphError) as caught:
            await all_users(client)
        assert (caught.value.code, caught.value.request_id) == ("http400", "h-1")

    async def test_401_refreshes_token_once_then_succeeds(
        self, client: GraphClient, graph: ScriptedGraph, tokens: StaticTokens
    ) -> None:
        """A 401 forces one token refresh and the retry carries the new token."""
        graph.add("GET", USERS, status=401, payload=graph_error("InvalidAuthenticationToken"))
        graph.add("GET", USERS, payload=users_page("u1"))
        assert await all_users(client) == ["u1"]
        assert tokens.refreshes == 1
        auth = [seen.headers["Authorization"] for seen in graph.seen]
        assert auth == [f"Bearer {SECRET_TOKEN}-0", f"Bearer {SECRET_TOKEN}-1"]

    async def test_second_401_is_a_graph_error(
        self, client: GraphClient, graph: ScriptedGraph, tokens: StaticTokens
    ) -> None:
        """A 401 after a fresh token is not retried again: GraphError(401)."""
        graph.add(
            "GET", USERS, status=401, payload=graph_error("InvalidAuthenticationToken"), repeat=True
        )
        with pytest.raises(GraphError) as caught:
            await all_users(client)
        assert caught.value.status == 401
        assert tokens.refreshes == 1

    async def test_404_is_none_for_get_user_and_tolerated_on_delete(
        self, client: GraphClient, graph: ScriptedGraph
    ) -> None:
        """get_user and get_subscription give None on 404; delete of a gone one succeeds."""
        graph.add("GET", r"/v1\.0/users/nobody$", status=404, payload=graph_error("x"))
        graph.add("GET", r"/subscriptions/gone$", status=404)
        graph.add("DELETE", r"/subscriptions/gone$", status=404)
        assert await client.get_user("nobody") is None
        assert await client.get_subscription("gone") is None
        await client.delete_subscription("gone")

    async def test_relative_next_link_is_refused(
        self, client: GraphClient, graph: ScriptedGraph
    ) -> None:
        """A relative nextLink is not Graph's shape and is refused, not resolved."""
        graph.add("GET", USERS, payload=users_page("u1", next_link="/v1.0/users?x"))
        with pytest.raises(GraphError, match="untrustedLink"):
            await all_users(client)

    async def test_next_link_to_another_host_is_refused(
        self, client: GraphClient, graph: ScriptedGraph
    ) -> None:
        """A nextLink off the Graph origin is not followed: it would carry the token away."""
        graph.add(
            "GET", USERS, payload=users_page("u1", next_link="https://evil.test/v1.0/users?x")
        )
        with pytest.raises(GraphError, match="untrustedLink"):
            await all_users(client)
        assert len(graph.seen) == 1


class TestRequests:
    async def test_users_query_selects_planner_fields_and_999(
        self, client: GraphClient, graph: ScriptedGraph
    ) -> None:
        """The users list asks for the planner's $select and $top=999, nextLink verbatim."""
        next_link = f"{graph.url}/v1.0/users?$select=id&$top=999&$skiptoken=X%2BY%3D"
        graph.add("GET", USERS, payload=users_page("u1", next_link=next_link))
        graph.add("GET", USERS, payload=users_page("u2"))
        assert await all_users(client) == ["u1", "u2"]
        urls = [seen.raw_path for seen in graph.seen]
        assert f"$select={','.join(USER_SELECT)}" in urls[0].replace("%24", "$").replace("%2C", ",")
        assert "top=999" in urls[0]
        assert "X%2BY%3D" in urls[1]

    async def test_minimal_round_sends_prefer_header(
        self, client: GraphClient, graph: ScriptedGraph
    ) -> None:
        """minimal=True adds `Prefer: return=minimal` to every page of the round."""
        graph.add(
            "GET",
            DELTA,
            payload={"value": [], "@odata.nextLink": f"{graph.url}/v1.0/users/delta?n=1"},
        )
        graph.add(
            "GET",
            DELTA,
            payload={"value": [{"id": "u1"}], "@odata.deltaLink": f"{graph.url}/d?t=2"},
        )
        delta_round = client.delta_round(minimal=True)
        pages = [page async for page in delta_round]
        assert pages == [[{"id": "u1"}]]
        assert delta_round.delta_link == f"{graph.url}/d?t=2"
        prefers = [seen.headers.get("Prefer") for seen in graph.seen]
        assert prefers == ["return=minimal", "return=minimal"]

    async def test_requests_are_logged_without_token_or_query(
        self, client: GraphClient, graph: ScriptedGraph
    ) -> None:
        """Each request is logged at debug with method, path, status and duration only."""
        graph.add(
            "GET", DELTA, payload={"value": [], "@odata.deltaLink": f"{graph.url}/d?$deltatoken=s3"}
        )
        with capture_logs() as logs:
            async for _ in client.delta_round():
                pass
        entries = [e for e in logs if e["event"] == "graph.request"]
        assert len(entries) == 1
        entry = entries[0]
        assert (entry["log_level"], entry["method"], entry["path"], entry["status"]) == (
            "debug",
            "GET",
            "/v1.0/users/delta",
            200,
        )
        assert isinstance(entry["duration_ms"], float)
        assert SECRET_TOKEN not in repr(logs)
        assert "select" not in repr(logs)

    async def test_close_closes_the_session_not_the_tokens(self, tokens: StaticTokens) -> None:
        """Leaving the context closes the client's session; the borrowed provider stays open."""
        async with GraphClient("https://graph.test", tokens) as client:
            pass
        assert not tokens.closed
        with pytest.raises(RuntimeError, match="not open"):
            await client.get_user("u1")


def _soon() -> datetime:
    return datetime.now(UTC) + timedelta(days=2)
