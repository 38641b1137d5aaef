"""Hostile requests to the public surface (both Graph endpoints, the OAuth callbacks and the
sign-in form), against the real aiohttp app on a real port with a real SQLite store: every
one is answered 4xx (or, for the well-formed but untrusted, 202/200), none is a 5xx, none
stores an event, none logs a traceback, and every refusal of ours is counted."""

from __future__ import annotations

import asyncio
import collections
import json
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cli.app import create_daemon_app
from edge.inputs import INPUT_LIMITS, InputLimits
from store import Database
from store.events import list_events
from store.models import Link, Subscription
from store.subscriptions import client_state_hash, put_subscription
from tests.hostile import (
    FORM,
    JSON,
    Case,
    MiB,
    deflate,
    dumps,
    exchange,
    gzip_bomb,
    nested,
    refused_total,
    request,
)
from worker.settings import Settings

USER_ID = "4b7a6c1e-2d3f-4a5b-8c9d-0e1f2a3b4c5d"
TENANT_ID = "7f3c2a10-5b1e-4c7d-9a2e-0d4b6c8e1f20"
SUB_ID = "9a8b7c6d-5e4f-4a3b-2c1d-0e9f8a7b6c5d"
CLIENT_STATE = "s3cret-client-state"
GRAPH = (b"/graph/notifications", b"/graph/lifecycle")
STATE = "A" * 32  # shaped like sessions.new_state(), but no flow has it


@dataclass
class Target:
    server: TestServer
    db: Database
    link: Link

    @property
    def port(self) -> int:
        port = self.server.port
        assert port is not None
        return port

    async def events(self) -> list[Any]:
        return await list_events(self.db, self.link.id)


MakeTarget = Callable[..., Awaitable[Target]]


@pytest.fixture
async def make_target(db: Database, link: Link, tmp_path: Path) -> AsyncIterator[MakeTarget]:
    servers: list[TestServer] = []

    async def make(limits: InputLimits | None = None) -> Target:
        await put_subscription(
            db,
            Subscription(
                id=SUB_ID,
                link_id=link.id,
                resource="users",
                client_state_hash=client_state_hash(CLIENT_STATE),
                expires_at=time.time() + 3600,
                notification_url="https://sync.example/graph/notifications",
            ),
        )
        app = create_daemon_app(
            Settings(data_dir=tmp_path, database=tmp_path / "m365sync.db"), db=db
        )
        if limits is not None:
            app[INPUT_LIMITS] = limits
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        servers.append(server)
        return Target(server, db, link)

    yield make
    for server in servers:
        await server.close()


def _item(**overrides: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "subscriptionId": SUB_ID,
        "clientState": CLIENT_STATE,
        "changeType": "updated",
        "tenantId": TENANT_ID,
        "resource": f"Users/{USER_ID}",
        "resourceData": {"id": USER_ID},
    }
    item.update(overrides)
    return item


def _collection(*items: dict[str, Any]) -> bytes:
    return dumps({"value": list(items)})


def graph_corpus(path: bytes) -> list[Case]:
    """The issue's cases and their relatives, for one Graph endpoint."""
    s400, s202 = frozenset({400}), frozenset({202})
    lifecycle = path.endswith(b"lifecycle")
    post = lambda body, headers=JSON, **kw: request(b"POST", path, body, headers, **kw)  # noqa: E731
    good = _collection(_item(lifecycleEvent="missed") if lifecycle else _item())
    cases = [
        Case("nested-arrays", post(nested(100_000)), s400),
        Case("nested-objects", post(b'{"value":' + b'{"a":' * 20_000 + b"1" + b"}" * 20_001), s400),
        Case(
            "int-5000-digits",
            post(b'{"value":[{"subscriptionId":"x","n":' + b"1" * 5000 + b"}]}"),
            s400,
        ),
        Case("float-overflow", post(b'{"value":[{"subscriptionId":"x","n":1e999}]}'), s400),
        Case("nan", post(b'{"value":[{"subscriptionId":"x","n":NaN}]}'), s400),
        Case("surrogate-subscription-id", post(b'{"value":[{"subscriptionId":"\\ud800"}]}'), s400),
        Case(
            "surrogate-client-state",
            post(_collection(_item()).replace(b"s3cret", b"\\udfff")),
            s400,
        ),
        Case(
            "surrogate-resource-id", post(_collection(_item(resourceData={"id": "\udbff"}))), s400
        ),
        Case("surrogate-key", post(b'{"value":[{"subscriptionId":"x","\\ud800":1}]}'), s400),
        Case("duplicate-value-key", post(b'{"value":[],"value":' + good[10:]), s400),
        Case(
            "duplicate-item-key",
            post(good.replace(b'"changeType"', b'"tenantId": "x", "changeType"', 1)),
            s400,
        ),
        Case("items-not-objects", post(b'{"value":[1,"x",null,[]]}'), s400),
        Case("value-not-a-list", post(b'{"value":{"subscriptionId":"x"}}'), s400),
        Case("top-level-array", post(b"[]"), s400),
        Case("top-level-null", post(b"null"), s400),
        Case("empty-body", post(b""), s400),
        Case("truncated-json", post(good[: len(good) // 2]), s400),
        Case("not-utf8", post(b'{"value":[{"subscriptionId":"\xff\xfe"}]}'), s400),
        Case("utf16", post(json.dumps({"value": [_item()]}).encode("utf-16")), s400),
        Case("utf8-bom", post(b"\xef\xbb\xbf" + good), s400),
        Case("text-plain", post(good, ((b"Content-Type", b"text/plain"),)), frozenset({415})),
        Case("form-type", post(good, FORM), frozenset({415})),
        Case(
            "latin1-charset",
            post(good, ((b"Content-Type", b"application/json; charset=latin-1"),)),
            frozenset({415}),
        ),
        Case(
            "multipart",
            post(good, ((b"Content-Type", b"multipart/form-data; boundary=x"),)),
            frozenset({415}),
        ),
        Case(
            "gzip-garbage",
            post(b"garbage!garbage", (*JSON, (b"Content-Encoding", b"gzip"))),
            frozenset({415}),
        ),
        Case(
            "deflate-garbage",
            post(b"\x00\x01garbage", (*JSON, (b"Content-Encoding", b"deflate"))),
            frozenset({415}),
        ),
        Case(
            "gzip-bomb",
            post(gzip_bomb(), (*JSON, (b"Content-Encoding", b"gzip"))),
            frozenset({415}),
        ),
        Case(
            "deflate-valid",
            post(deflate(good), (*JSON, (b"Content-Encoding", b"deflate"))),
            frozenset({415}),
        ),
        Case(
            "encoding-list",
            post(good, (*JSON, (b"Content-Encoding", b"identity, gzip"))),
            frozenset({415}),
        ),
        Case("declared-1MiB+1", post(b"x" * (MiB + 1)), frozenset({413})),
        Case("chunked-1MiB+1", post(b"[" + b" " * MiB + b"]", chunked=True), frozenset({413})),
        Case("header-not-utf8", post(good, (*JSON, (b"X-Note", b"\xff\xfe"))), s400),
        Case(
            "body-shorter-than-length",
            post(good, length=len(good) + 100),
            frozenset({400, None}),
            half_close=True,
        ),
        Case(
            "bad-chunk-framing",
            post(good, chunked=True).replace(b"\r\n0\r\n", b"\r\nzz\r\n"),
            frozenset({400}),
        ),
        Case(
            "two-content-lengths", post(good, (*JSON, (b"Content-Length", b"5"))), frozenset({400})
        ),
        # Well-formed JSON, untrusted content: 202 and nothing stored (an attacker learns nothing).
        Case(
            "subscription-id-newline", post(_collection(_item(subscriptionId=SUB_ID + "\n"))), s202
        ),
        Case(
            "subscription-id-not-guid",
            post(_collection(_item(subscriptionId="'; DROP TABLE x"))),
            s202,
        ),
        Case(
            "client-state-too-long",
            post(_collection(_item(clientState=CLIENT_STATE + "x" * 300))),
            s202,
        ),
        Case("client-state-wrong", post(_collection(_item(clientState="guess"))), s202),
        Case("tenant-object", post(_collection(_item(tenantId={"a": 1}))), s202),
        Case(
            "resource-id-newline",
            post(_collection(_item(resourceData={"id": USER_ID + "\n"}, resource=None))),
            s202,
        ),
        Case(
            "resource-id-list",
            post(_collection(_item(resourceData={"id": [USER_ID]}, resource=[1]))),
            s202,
        ),
        Case("change-type-list", post(_collection(_item(changeType=["updated"]))), s202),
    ]
    if lifecycle:  # there, a change notification is not an event, nor a non-text name
        cases += [
            Case("change-on-lifecycle", post(_collection(_item())), s202),
            Case("lifecycle-event-list", post(_collection(_item(lifecycleEvent=[]))), s202),
            Case("lifecycle-event-object", post(_collection(_item(lifecycleEvent={"a": 1}))), s202),
            Case("lifecycle-event-number", post(_collection(_item(lifecycleEvent=1))), s202),
        ]
    return cases


def callback_corpus() -> list[Case]:
    s400 = frozenset({400})
    get = lambda path: request(b"GET", path, headers=())  # noqa: E731
    token = lambda body, headers=FORM, **kw: request(b"POST", b"/auth/token", body, headers, **kw)  # noqa: E731
    login = lambda body, headers=FORM: request(b"POST", b"/login", body, headers)  # noqa: E731
    state = f"state={STATE}&code=x".encode()
    return [
        Case("consent-no-state", get(b"/auth/consent?admin_consent=True"), s400),
        Case("consent-state-surrogate", get(b"/auth/consent?state=%ED%A0%80"), s400),
        Case(
            "consent-state-twice", get(b"/auth/consent?state=" + STATE.encode() + b"&state=x"), s400
        ),
        Case("consent-state-junk", get(b"/auth/consent?state=%27%3B--"), s400),
        Case(
            "consent-long-description",
            get(
                b"/auth/consent?state="
                + STATE.encode()
                + b"&error=x&error_description="
                + b"y" * 20000
            ),
            s400,
        ),
        Case(
            "consent-unknown-state", get(b"/auth/consent?state=" + STATE.encode()), frozenset({200})
        ),
        Case("token-get-unknown-state", get(b"/auth/token?" + state), frozenset({200})),
        Case(
            "token-get-state-twice",
            get(b"/auth/token?" + state + b"&state=" + STATE.encode()),
            s400,
        ),
        Case("token-post-unknown-state", token(state), frozenset({200})),
        Case("token-post-bad-percent-utf8", token(b"state=%ff%fe&code=x"), s400),
        Case("token-post-encoded-surrogate", token(b"state=%ED%A0%80"), s400),
        Case("token-post-raw-not-utf8", token(b"state=\xff"), s400),
        Case("token-post-state-twice", token(state + b"&state=" + STATE.encode()), s400),
        Case(
            "token-post-too-many-fields", token(b"&".join(b"f%d=1" % i for i in range(300))), s400
        ),
        Case(
            "token-post-charset-unknown",
            token(state, ((b"Content-Type", b"application/x-www-form-urlencoded; charset=foo"),)),
            frozenset({415}),
        ),
        Case(
            "token-post-multipart",
            token(b"--x\r\n\r\n--x--", ((b"Content-Type", b"multipart/form-data; boundary=x"),)),
            frozenset({415}),
        ),
        Case("token-post-json", token(dumps({"state": STATE}), JSON), frozenset({415})),
        Case(
            "token-post-gzip",
            token(b"garbage", (*FORM, (b"Content-Encoding", b"gzip"))),
            frozenset({415}),
        ),
        Case("token-post-1MiB+1", token(b"a=" + b"b" * (MiB - 1)), frozenset({413})),
        Case(
            "token-post-truncated",
            token(state, length=len(state) + 50),
            frozenset({400, None}),
            half_close=True,
        ),
        Case(
            "token-post-header-not-utf8",
            token(state, (*FORM, (b"Cookie", b"m365sync_session=\xff"))),
            s400,
        ),
        Case("login-raw-not-utf8", login(b"username=\xff&password=x"), s400),
        Case(
            "login-charset-unknown",
            login(
                b"username=a",
                ((b"Content-Type", b"application/x-www-form-urlencoded; charset=foo"),),
            ),
            frozenset({415}),
        ),
        Case(
            "login-cookie-not-utf8",
            login(b"username=a&csrf_token=b", (*FORM, (b"Cookie", b"m365sync_login=\xff\xfe"))),
            s400,
        ),
    ]


async def _run(target: Target, cases: list[Case]) -> collections.Counter[int | None]:
    answers: collections.Counter[int | None] = collections.Counter()
    for case in cases:
        status = await exchange(target.port, case.raw, half_close=case.half_close)
        assert status in case.expect, (case.name, status)
        answers[status] += 1
    return answers


async def test_hostile_corpus_gets_4xx_never_5xx_and_stores_nothing(
    make_target: MakeTarget, caplog: pytest.LogCaptureFixture
) -> None:
    """The corpus over both Graph endpoints, the OAuth callbacks and /login: each answer is
    the expected 4xx (or 202/200 for well-formed but untrusted content); no event is
    stored, nothing is logged at ERROR (no traceback), and each refusal is counted."""
    target = await make_target()
    cases = [*graph_corpus(GRAPH[0]), *graph_corpus(GRAPH[1]), *callback_corpus()]
    before = {s: refused_total(s) for s in ("graph", "oauth", "login", "http")}
    with caplog.at_level(logging.WARNING):
        answers = await _run(target, cases)
    print(f"\nhostile corpus: {len(cases)} requests, answers by status: {dict(answers)}")
    assert not any(s is not None and s >= 500 for s in answers)
    assert await target.events() == []
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert [r.getMessage() for r in caplog.records if r.exc_info] == []
    refused = [c for c in cases if not c.expect & {200, 202}]
    counted = sum(refused_total(s) - before[s] for s in before)
    # A client that closes before aiohttp dispatched its request was never a request.
    vanished = sum(1 for c in cases if c.half_close)
    assert len(refused) - vanished <= counted <= len(refused)


async def test_a_good_notification_still_passes(make_target: MakeTarget) -> None:
    """The same app stores a well-formed notification (application/json; charset=utf-8,
    or no Content-Type at all), so the corpus above is refused for its content."""
    target = await make_target()
    body = _collection(_item())
    typed = ((b"Content-Type", b"application/json; charset=utf-8"),)
    assert await exchange(target.port, request(b"POST", GRAPH[0], body, typed)) == 202
    assert await exchange(target.port, request(b"POST", GRAPH[0], body, ())) == 202
    assert len(await target.events()) == 2


async def _trickle(
    port: int, path: bytes, headers: tuple[tuple[bytes, bytes], ...]
) -> tuple[int | None, bool]:
    """Declare 1000 bytes, send them one every 50 ms; return the answer's status and
    whether the server then closed the connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = request(b"POST", path, b"", headers, length=1000)
    writer.write(head)
    answer = asyncio.ensure_future(reader.readuntil(b"\r\n\r\n"))
    try:
        for _ in range(1000):
            done, _pending = await asyncio.wait({answer}, timeout=0.05)
            if done:
                break
            writer.write(b" ")
            await writer.drain()
        status = int((await answer).split(b" ", 2)[1])
        rest = await asyncio.wait_for(reader.read(), 5)  # EOF once the server closes
        return status, rest is not None
    except (asyncio.IncompleteReadError, ConnectionError):
        return None, True
    finally:
        answer.cancel()
        writer.close()


@pytest.mark.parametrize(
    ("path", "headers"),
    [(GRAPH[0], JSON), (GRAPH[1], JSON), (b"/auth/token", FORM), (b"/login", FORM)],
)
async def test_a_trickled_body_is_cut_off_at_the_read_deadline(
    make_target: MakeTarget, path: bytes, headers: tuple[tuple[bytes, bytes], ...]
) -> None:
    """Slow-loris: a body trickled a byte per 50 ms (each read arrives well within any
    per-read timeout) is answered 408 at the 0.5 s total deadline and the connection is
    closed, so no handler waits on it; nothing is stored."""
    target = await make_target(InputLimits(read_timeout_s=0.5))
    status, closed = await _trickle(target.port, path, headers)
    assert status in (408, None)
    assert closed
    assert await target.events() == []


# -- hypothesis ----------------------------------------------------------------------------

_GUIDISH = st.sampled_from([USER_ID, USER_ID.upper()])
_hostile_text = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["\ud800", "\udfff", "a\udc80b", "\x00", "\u202e", "%00", "../../x"]),
    _GUIDISH.map(lambda g: g + "\n"),
    _GUIDISH.map(lambda g: " " + g),
    _GUIDISH.map(lambda g: g[:-1]),
)
_json_leaf = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), _hostile_text)
_json_any = st.recursive(
    _json_leaf,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_hostile_text, inner, max_size=3),
    max_leaves=8,
)
_LIFECYCLE_NAMES = {"reauthorizationRequired", "subscriptionRemoved", "missed", "removed"}


@st.composite
def _items(draw: st.DrawFn) -> dict[str, Any]:
    """A notification that is right about the subscription (so every later check runs) and
    wrong about what it names: never a clean user id, never a known lifecycle event."""
    item: dict[str, Any] = {
        "subscriptionId": draw(st.sampled_from([SUB_ID, SUB_ID.upper()]) | _hostile_text),
        "clientState": draw(st.just(CLIENT_STATE) | _json_any),
        "tenantId": draw(st.just(TENANT_ID) | _json_any),
    }
    for key in ("changeType", "resource", "resourceData", "lifecycleEvent"):
        if draw(st.booleans()):
            item[key] = draw(_json_any)
    if draw(st.booleans()):
        item["resourceData"] = {"id": draw(_hostile_text)}
    return item


def _no_valid_notification(item: dict[str, Any]) -> bool:
    """The oracle: nothing in the item names a user or a lifecycle event cleanly."""
    data = item.get("resourceData")
    names = [data.get("id") if isinstance(data, dict) else None, item.get("resource")]
    for name in names:
        if isinstance(name, str) and re.fullmatch(f"/?(users/)?{USER_ID}", name, re.I):
            return False
    event = item.get("lifecycleEvent")
    return not (isinstance(event, str) and event in _LIFECYCLE_NAMES)


def _encode(value: Any) -> bytes:
    # json.dumps escapes lone surrogates as \udXXX and writes NaN/Infinity: both hostile.
    return json.dumps(value).encode()


_bodies = st.one_of(
    st.lists(_items().filter(_no_valid_notification), min_size=1, max_size=5).map(
        lambda items: _encode({"value": items})
    ),
    _json_any.map(_encode),
    st.binary(max_size=500),
    st.tuples(
        st.lists(_items().filter(_no_valid_notification), min_size=1, max_size=3),
        st.integers(0, 400),
    ).map(lambda t: _encode({"value": t[0]})[: t[1]]),
)
_content_types = st.sampled_from(
    [
        None,
        b"application/json",
        b"application/json; charset=utf-8",
        b"text/plain",
        b"application/x-www-form-urlencoded",
        b"application/json; charset=utf-16",
        b"*/*",
    ]
)
_encodings = st.sampled_from([None, None, None, b"identity", b"gzip", b"deflate", b"br", b"x"])


@settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.filter_too_much],
)
@given(
    path=st.sampled_from(GRAPH),
    body=_bodies,
    content_type=_content_types,
    encoding=_encodings,
)
async def test_fuzzed_notifications_never_get_5xx_or_store_events(
    fuzz_target: Target,
    path: bytes,
    body: bytes,
    content_type: bytes | None,
    encoding: bytes | None,
) -> None:
    """Random bodies, types and encodings on both Graph endpoints: 202 or 4xx, nothing stored."""
    headers = [(b"Content-Type", content_type)] if content_type else []
    if encoding:
        headers.append((b"Content-Encoding", encoding))
    status = await exchange(fuzz_target.port, request(b"POST", path, body, headers))
    assert status is not None and (status == 202 or 400 <= status < 500), status
    assert await fuzz_target.events() == []
    FUZZ_ANSWERS[status] += 1


_query_value = st.one_of(
    st.text(max_size=40),
    st.just(STATE),
    st.binary(max_size=20).map(lambda b: "".join(f"%{x:02X}" for x in b)),
)


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    method_path=st.sampled_from(
        [(b"GET", b"/auth/consent"), (b"GET", b"/auth/token"), (b"POST", b"/auth/token")]
    ),
    params=st.lists(
        st.tuples(
            st.sampled_from(["state", "code", "error", "error_description", "x"]), _query_value
        ),
        max_size=5,
    ),
    raw_tail=st.binary(max_size=30),
    content_type=_content_types,
)
async def test_fuzzed_oauth_callbacks_never_get_5xx(
    fuzz_target: Target,
    method_path: tuple[bytes, bytes],
    params: list[tuple[str, str]],
    raw_tail: bytes,
    content_type: bytes | None,
) -> None:
    """Random query strings and form_post bodies (raw bytes included) on the callbacks."""
    method, path = method_path
    encoded = "&".join(f"{k}={v}" for k, v in params).encode("utf-8", "surrogatepass") + raw_tail
    if method == b"GET":
        safe = bytes(b if 0x21 <= b < 0x7F and b not in b"# " else ord("_") for b in encoded)
        raw = request(method, path + b"?" + safe, headers=())
    else:
        headers = [(b"Content-Type", content_type)] if content_type else []
        raw = request(method, path, encoded, headers)
    status = await exchange(fuzz_target.port, raw)
    assert status is not None and status < 500, status
    FUZZ_ANSWERS[status] += 1


FUZZ_ANSWERS: collections.Counter[int] = collections.Counter()


@pytest.fixture
async def fuzz_target(make_target: MakeTarget) -> AsyncIterator[Target]:
    target = await make_target()
    yield target
    print(f"\nfuzz answers so far by status: {dict(sorted(FUZZ_ANSWERS.items()))}")
