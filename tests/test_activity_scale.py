"""The Activity page pages through 100,000 audit rows: 200 a page, newest first, "Older
entries" continues where the page ended (keyset, no row twice, none skipped), a filter finds
the one matching row at the far end, and the page query never sorts the whole trail (its
SQLite plan walks the primary key). Figures: bench/activity.py."""

from __future__ import annotations

import html
import re
import sqlite3
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest

from store.directory import put_directory_users
from store.models import AuditEntry, DirectoryUser
from store.records import add_audit, audit_query
from tests.plugins.browser import DAEMON_ADMIN, DAEMON_PASSWORD, AdminEnv
from tests.test_admin_security import _sign_in

ROWS = 100_000
T0 = 1_700_000_000.0
_TIME = re.compile(r'<time datetime="([^"]+)">')
_OLDER = re.compile(r'<a href="([^"]+)" id="activity-older"')


def _iso(epoch_s: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch_s))


def _entries(link_id: int) -> list[AuditEntry]:
    rows = [
        AuditEntry(
            link_id=link_id,
            action="update",
            outcome="ok",
            trigger="sweep",
            user_id=f"user-{i % 100}",
            number=str(200 + i % 100),
            before={"display_name": f"Old{i}"},
            after={"display_name": f"New{i}"},
            reason="fields_changed",
            at=T0 + i,
        )
        for i in range(ROWS)
    ]
    rows[0] = AuditEntry(link_id=link_id, action="sign-out", outcome="ok", trigger="admin", at=T0)
    return rows


@pytest.fixture
async def big_trail(admin_env: AdminEnv) -> AsyncIterator[aiohttp.ClientSession]:
    env = admin_env
    async with env.db.atomic() as tx:
        await add_audit(tx, _entries(env.link.id))
        await put_directory_users(
            tx,
            env.link.id,
            [
                DirectoryUser(id=f"user-{n}", display_name=f"Person {n}", mail=f"p{n}@x.example")
                for n in range(100)
            ],
        )
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(env.base_url, cookie_jar=jar) as http:
        assert (await _sign_in(http, DAEMON_ADMIN, DAEMON_PASSWORD)).status == 303
        yield http


async def _page(http: aiohttp.ClientSession, url: str) -> tuple[list[str], str | None, str]:
    async with http.get(url) as response:
        assert response.status == 200
        body = (await response.text()).replace("<wbr>", "")
    older = _OLDER.search(body)
    return _TIME.findall(body), html.unescape(older.group(1)) if older else None, body


@pytest.mark.slow
async def test_pages_walk_the_trail_newest_first_without_gaps_or_repeats(
    admin_env: AdminEnv, big_trail: aiohttp.ClientSession
) -> None:
    url: str | None = f"/links/{admin_env.link.id}/activity"
    seen: list[str] = []
    bodies: list[str] = []
    for _ in range(4):
        assert url is not None
        times, url, body = await _page(big_trail, url)
        assert len(times) == 200
        seen.extend(times)
        bodies.append(body)
    first = bodies[0]
    assert "Person 99" in body and "p99@x.example" in body and "Last name: Old" in body
    assert seen == sorted(seen, reverse=True) and len(set(seen)) == 800
    # Our own sign-in, then the 799 newest rows, one second apart: no gap between pages.
    assert seen[0] > "2026" and "Sign-in" in first
    assert seen[1:] == [_iso(T0 + i) for i in range(ROWS - 1, ROWS - 800, -1)]


@pytest.mark.slow
async def test_a_filter_finds_the_oldest_row_and_search_finds_names(
    admin_env: AdminEnv, big_trail: aiohttp.ClientSession
) -> None:
    base = f"/links/{admin_env.link.id}/activity"
    times, older, body = await _page(big_trail, f"{base}?action=sign-out")
    assert times == [_iso(T0)] and older is None
    assert "1 entries, newest first" in body
    times, older, body = await _page(big_trail, f"{base}?q=Person+42")
    assert len(times) == 200 and older is not None and "p42@x.example" in body
    assert "p41@x.example" not in body
    async with big_trail.get(f"{base}.csv?action=sign-out") as export:
        assert (await export.text()).count("\n") == 2


def test_the_page_query_walks_the_primary_key_and_never_sorts_the_trail(
    admin_env: AdminEnv,
) -> None:
    """At 100,000 rows a sort of the whole trail costs 90 ms a page (bench/activity.py)."""
    with sqlite3.connect(f"file:{admin_env.settings.database}?mode=ro", uri=True) as conn:
        for filters in ({}, {"before_id": 5000}, {"action": "create"}, {"text": "220"}):
            sql, params = audit_query(admin_env.link.id, limit=201, **filters)  # type: ignore[arg-type]
            plan = " ".join(str(r[-1]) for r in conn.execute(f"EXPLAIN QUERY PLAN {sql}", params))
            assert "TEMP B-TREE" not in plan, (filters, plan)
