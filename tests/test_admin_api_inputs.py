"""The admin JSON API's inputs: every route that takes a body (enumerated from the router)
is fuzzed with a signed-in session and its CSRF token, against the real app on a real port
with both emulators behind it. Bad input is a 4xx, never a 5xx; a field of the wrong type
is a 400 (or the policy's 422) naming the field."""

from __future__ import annotations

import collections
import json
import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from admin.passwords import hash_password
from store.admins import set_admin_account
from tests.hostile import JSON, MiB, exchange, gzip_bomb, nested, refused_total, request
from tests.plugins.pipeline import MakeStack, Stack

ADMIN, PASSWORD = "m365sync", "daemon-admin-password-1"
_META = re.compile(r'<meta name="csrf-token" content="([^"]*)">')
_FORM_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass
class Admin:
    stack: Stack
    http: aiohttp.ClientSession
    csrf: str
    cookie: str
    routes: list[tuple[str, str]]

    @property
    def port(self) -> int:
        port = self.stack.server.port
        assert port is not None
        return port

    def headers(self) -> dict[str, str]:
        return {"X-CSRF-Token": self.csrf, "Content-Type": "application/json"}

    def raw_headers(self) -> tuple[tuple[bytes, bytes], ...]:
        return (
            (b"X-CSRF-Token", self.csrf.encode()),
            (b"Cookie", b"m365sync_session=" + self.cookie.encode()),
        )


def _api_body_routes(stack: Stack, link_id: int) -> list[tuple[str, str]]:
    routes = []
    for route in stack.server.app.router.routes():  # type: ignore[union-attr]
        info = route.resource.get_info() if route.resource else {}
        path = info.get("formatter") or info.get("path") or ""
        if route.method in BODY_METHODS and path.startswith("/api/"):
            routes.append((route.method, path.replace("{link_id}", str(link_id))))
    return sorted(routes)


@pytest.fixture
async def admin(make_stack: MakeStack) -> AsyncIterator[Admin]:
    stack = await make_stack(users=3)
    await stack.settle()
    await set_admin_account(stack.db, ADMIN, hash_password(PASSWORD, n=2**12))
    jar = aiohttp.CookieJar(unsafe=True)
    base = str(stack.server.make_url("")).rstrip("/")
    async with aiohttp.ClientSession(base, cookie_jar=jar) as http:
        async with http.get("/login") as page:
            match = _FORM_CSRF.search(await page.text())
        assert match
        form = {"username": ADMIN, "password": PASSWORD, "csrf_token": match.group(1)}
        async with http.post("/login", data=form, allow_redirects=False) as signed_in:
            assert signed_in.status == 303
            cookie = signed_in.cookies["m365sync_session"].value
        async with http.get("/links") as page:
            meta = _META.search(await page.text())
        assert meta
        routes = _api_body_routes(stack, stack.link.id)
        yield Admin(stack, http, meta.group(1), cookie, routes)


def test_the_fuzzed_routes_are_every_api_route_that_takes_a_body(admin: Admin) -> None:
    """Enumerated from the router, so a new JSON route is fuzzed without editing this file."""
    link = f"/api/links/{admin.stack.link.id}"
    assert set(admin.routes) == {
        ("POST", "/api/links"),
        ("PUT", f"{link}/settings"),
        ("POST", f"{link}/selection/preview"),
        ("POST", f"{link}/selection/auto-assign"),
        ("POST", f"{link}/selection/create"),
        ("POST", f"{link}/unmatched"),
        ("POST", f"{link}/link"),
        ("POST", f"{link}/reenable"),
        ("POST", f"{link}/held/approve"),
        ("POST", f"{link}/held/reject"),
        ("POST", f"{link}/resync"),
        ("POST", "/api/tokens"),
        ("DELETE", "/api/tokens/{token_id}"),
    }


def _path(path: str) -> str:
    return path.replace("{token_id}", "0123456789abcdef")


# Per route: a body whose named field has the wrong type or shape.
WRONG_FIELDS: dict[str, list[tuple[dict[str, Any], str]]] = {
    "/api/links": [
        ({"name": "x", "settings": [1, 2]}, "settings"),
        ({"name": "x", "settings": 5}, "settings"),
        ({"name": ["x"]}, "name"),
        (
            {
                **dict.fromkeys(
                    ("name", "tenant_id", "client_id", "pbx_url", "pbx_domain", "pbx_user"), "x"
                ),
                "pbx_password": "p",
                "graph_url": {"a": 1},
            },
            "graph_url",
        ),
    ],
    "/settings": [
        ({"cooloff_days": "²"}, "cooloff_days"),
        ({"cooloff_days": "9" * 5000}, "cooloff_days"),
        ({"sweep_interval_hours": [1]}, "sweep_interval_hours"),
        ({"ranges": {"a": 1}}, "ranges"),
        ({"no_such_setting": 1}, "no_such_setting"),
    ],
    "/selection/preview": [
        ({"chosen": {"id": "x"}}, "chosen"),
        ({"chosen": [], "visible": 1}, "visible"),
    ],
    "/selection/auto-assign": [({"ids": "x"}, "ids")],
    "/selection/create": [
        ({"chosen": [{"id": 1}]}, "chosen"),
        ({"chosen": [{"id": "a", "number": 5}]}, "chosen"),
    ],
    "/held/approve": [({"ids": [2**70]}, "ids"), ({"ids": [True]}, "ids"), ({"ids": "1"}, "ids")],
    "/held/reject": [({"ids": [-1]}, "ids"), ({"ids": [1.5]}, "ids")],
    "/resync": [({"full": "yes"}, "full"), ({"sweep": [1]}, "sweep")],
    "/unmatched": [({"exclude": "200"}, "exclude"), ({"exclude": [200]}, "exclude")],
    "/link": [({"user_id": "u", "number": 250}, "number"), ({"number": "250"}, "user_id")],
    "/reenable": [({"number": ["250"]}, "number"), ({"number": ""}, "number")],
    "/api/tokens": [({"name": {"a": 1}}, "name")],
}


def _wrong_fields_for(path: str) -> list[tuple[dict[str, Any], str]]:
    for suffix, cases in WRONG_FIELDS.items():
        if path.endswith(suffix):
            return cases
    return []


async def test_a_field_of_the_wrong_type_is_a_4xx_naming_it(admin: Admin) -> None:
    """Each route answers 400 (422 for the policy's own checks) with "field" set."""
    checked = 0
    for method, path in admin.routes:
        for body, field in _wrong_fields_for(path):
            async with admin.http.request(
                method, _path(path), json=body, headers=admin.headers()
            ) as response:
                answer = await response.json()
            assert response.status in (400, 422), (path, body, response.status, answer)
            assert answer.get("field") == field, (path, body, answer)
            checked += 1
    assert checked >= 20


def _hostile_bodies() -> list[tuple[str, bytes, tuple[tuple[bytes, bytes], ...], set[int]]]:
    s400 = {400}
    return [
        ("nested", nested(100_000), JSON, s400),
        ("int-5000-digits", b'{"ids": [' + b"1" * 5000 + b"]}", JSON, s400),
        ("surrogate", b'{"name": "\\ud800", "chosen": [{"id": "\\udfff"}]}', JSON, s400),
        ("duplicate-keys", b'{"ids": [], "ids": [1]}', JSON, s400),
        ("nan", b'{"cooloff_days": NaN}', JSON, s400),
        ("array", b"[1, 2]", JSON, s400),
        ("not-utf8", b'{"name": "\xff"}', JSON, s400),
        ("truncated", b'{"chosen": [{"id": "', JSON, s400),
        ("text-plain", b"{}", ((b"Content-Type", b"text/plain"),), {415}),
        ("form", b"a=b", ((b"Content-Type", b"application/x-www-form-urlencoded"),), {415}),
        ("gzip-bomb", gzip_bomb(), (*JSON, (b"Content-Encoding", b"gzip")), {415}),
        ("1MiB+1", b" " * (MiB + 1), JSON, {413}),
        ("header-not-utf8", b"{}", (*JSON, (b"X-Note", b"\xff")), s400),
    ]


async def test_hostile_bodies_on_every_api_route_are_4xx(
    admin: Admin, caplog: pytest.LogCaptureFixture
) -> None:
    """The Graph corpus's body cases on every API route that takes a body. Routes that
    ignore their body (DELETE) may do their work (2xx) but never answer 5xx."""
    answers: collections.Counter[int | None] = collections.Counter()
    before = refused_total("api")
    refusals = 0
    with caplog.at_level(logging.WARNING):
        for method, path in admin.routes:
            reads_body = not path.endswith("/unmatched") and method != "DELETE"
            for name, body, headers, expect in _hostile_bodies():
                raw = request(
                    method.encode(), _path(path).encode(), body, (*admin.raw_headers(), *headers)
                )
                status = await exchange(admin.port, raw)
                answers[status] += 1
                assert status is not None and status < 500, (path, name, status)
                # Encodings and headers are checked before any handler runs.
                if reads_body or name in ("gzip-bomb", "header-not-utf8"):
                    assert status in expect, (path, name, status)
                    refusals += 1
    print(f"\nadmin API corpus: {sum(answers.values())} requests, by status: {dict(answers)}")
    assert refused_total("api") - before >= refusals
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


ADMIN_ANSWERS: collections.Counter[int] = collections.Counter()
_text = st.one_of(
    st.text(max_size=20), st.sampled_from(["\ud800", "²", "9" * 30, "", " ", "200", "x" * 200])
)
# Values that broke a route once: ids past 64 bits, digits int() refuses, huge digit runs.
_HOSTILE = st.sampled_from([2**70, -1, 0, 1.5, True, "²", "٣", "9" * 5000, "\ud800", "", {}])
_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=False, allow_infinity=False),
    _text,
)
_value = st.recursive(
    _leaf,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3),
    max_leaves=6,
)
_POLICY_FIELDS = [
    "auto_create",
    "ranges",
    "reserved",
    "cooloff_days",
    "scope",
    "group_ids",
    "phone_region",
    "disable_threshold_count",
    "disable_threshold_percent",
    "sweep_interval_hours",
    "alert_emails",
    "client_secret_expires",
]
_LINK_FIELDS = [
    "name",
    "tenant_id",
    "client_id",
    "pbx_url",
    "pbx_domain",
    "pbx_user",
    "pbx_password",
    "auth_mode",
    "graph_url",
    "authority_url",
    "ca_bundle",
    "client_secret",
    "settings",
]
# What each route reads, so the fuzz spends its examples on fields that are looked at.
_FIELDS_BY_ROUTE = {
    "/api/links": _LINK_FIELDS,
    "/settings": _POLICY_FIELDS,
    "/selection/preview": ["chosen", "visible"],
    "/selection/auto-assign": ["ids"],
    "/selection/create": ["chosen"],
    "/held/approve": ["ids"],
    "/held/reject": ["ids"],
    "/resync": ["full", "sweep"],
    "/api/tokens": ["name"],
}


def _fields_for(path: str) -> list[str]:
    for suffix, fields in _FIELDS_BY_ROUTE.items():
        if path.endswith(suffix):
            return fields
    return ["x"]


@st.composite
def _api_bodies(draw: st.DrawFn, fields: list[str]) -> Any:
    """Objects with the route's own field names holding any value, or any JSON at all."""
    if draw(st.integers(0, 5)) == 0:
        return draw(_value)
    keys = draw(st.lists(st.sampled_from(fields), min_size=1, max_size=3, unique=True))
    body: dict[str, Any] = {}
    for key in keys:
        if key == "chosen" and draw(st.booleans()):
            item = st.fixed_dictionaries({"id": _text | _HOSTILE, "number": _HOSTILE | _text})
            body[key] = draw(st.lists(item, max_size=3))
        else:
            body[key] = draw(_HOSTILE | st.lists(_HOSTILE, min_size=1, max_size=3) | _value)
    return body


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(route=st.integers(0, 100), data=st.data())
async def test_fuzzed_admin_api_bodies_never_get_5xx(
    admin: Admin, route: int, data: st.DataObject
) -> None:
    """Any JSON (hostile strings, 80-bit ints, nesting) in the fields each route reads."""
    method, path = admin.routes[route % len(admin.routes)]
    body = data.draw(_api_bodies(_fields_for(path)))
    raw = json.dumps(body).encode()
    async with admin.http.request(
        method, _path(path), data=raw, headers=admin.headers()
    ) as response:
        await response.read()
    assert response.status < 500, (method, path, body, response.status)
    ADMIN_ANSWERS[response.status] += 1


def test_zz_print_fuzz_answers() -> None:
    """Not a check: the answers of the fuzz above by status, for the record."""
    print(f"\nadmin API fuzz answers by status: {dict(sorted(ADMIN_ANSWERS.items()))}")


HOSTILE_QUERIES = [
    "offset=99999999999999999999",
    "limit=%C2%B2",
    "before_id=99999999999999999999",
    "days=" + "9" * 30,
    "days=-1",
    "q=%ED%A0%80",
    "action=%00&outcome=%FF",
    "ids=1&q=" + "x" * 5000,
    "full=1",
]


async def test_hostile_query_strings_and_link_ids_on_api_get_routes(admin: Admin) -> None:
    """Every GET route under /api (from the router) with numbers past 64 bits, '²', broken
    UTF-8 and NULs in its query, and link ids past 64 bits: 4xx or 2xx, never 5xx."""
    paths = []
    for route in admin.stack.server.app.router.routes():  # type: ignore[union-attr]
        info = route.resource.get_info() if route.resource else {}
        path = info.get("formatter") or info.get("path") or ""
        if route.method == "GET" and path.startswith("/api/"):
            paths.append(path)
    assert len(paths) >= 9
    answers: collections.Counter[int] = collections.Counter()
    for path in paths:
        for link_id in (str(admin.stack.link.id), "9" * 20, "٣"):
            for query in HOSTILE_QUERIES:
                url = path.replace("{link_id}", link_id) + "?" + query
                async with admin.http.get(url, headers=admin.headers()) as response:
                    await response.read()
                assert response.status < 500, (url, response.status)
                if link_id != str(admin.stack.link.id) and "{link_id}" in path:
                    assert response.status == 404, (url, response.status)
                answers[response.status] += 1
    print(f"\nadmin API GET queries: {sum(answers.values())} requests, by status: {dict(answers)}")
