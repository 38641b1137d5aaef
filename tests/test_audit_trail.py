"""What administrators did is in the audit trail: sign-ins (ok and failed) and sign-outs,
setting changes (old -> new), conflicts (once each, not once per round) and held-action
decisions, with who and when; and no secret used anywhere in the test is in the trail, its
CSV, its API or the raw database file. The real app, both emulators, a real SQLite file."""

from __future__ import annotations

import csv
import io
import json
import re
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from admin.pages_settings import CHECKBOXES, TEXTS, _text
from store.links import update_link
from store.models import AuditEntry, AuthMode
from store.records import list_audit
from tests.plugins.browser import DAEMON_ADMIN, DAEMON_PASSWORD, AdminEnv
from tests.test_admin_security import _csrf, _sign_in
from worker.linkadmin import check_link, save_settings

_META = re.compile(r'name="csrf-token" content="([^"]+)"')


async def _active(env: AdminEnv) -> None:
    env.emus.graph.identity.grant_admin_consent(env.emus.info["client_id"])
    await update_link(env.db, env.link.id, auth_mode=AuthMode.APPLICATION)
    link = await check_link(env.db, env.link.id, env.settings)
    assert link.state.value == "active", link.state_reason


@pytest.fixture
async def http(admin_env: AdminEnv) -> AsyncIterator[aiohttp.ClientSession]:
    await _active(admin_env)
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(admin_env.base_url, cookie_jar=jar) as session:
        yield session


async def _trail(env: AdminEnv, action: str | None = None) -> list[AuditEntry]:
    return await list_audit(env.db, env.link.id, action=action, limit=10_000)


async def test_sign_ins_failed_sign_ins_and_sign_outs_are_recorded_without_the_password(
    admin_env: AdminEnv, http: aiohttp.ClientSession
) -> None:
    env = admin_env
    user, password = env.tenant_admin
    assert (await _sign_in(http, user, "not-the-password-1")).status == 401
    # Typed into the name field, a password must not reach the trail either.
    assert (await _sign_in(http, "Hunter2-typed-as-name", "x")).status == 401
    assert (await _sign_in(http, user, password)).status == 303
    csrf = await _csrf(http)
    async with http.post("/logout", data={"csrf_token": csrf}, allow_redirects=False) as out:
        assert out.status == 303
    rows = [(e.action, e.outcome, e.actor) for e in reversed(await _trail(env))]
    assert rows == [
        ("sign-in", "failed", f"admin:{user}"),
        ("sign-in", "failed", "unknown account"),
        ("sign-in", "ok", f"admin:{user}"),
        ("sign-out", "ok", f"admin:{user}"),
    ]
    dumped = json.dumps([repr(e) for e in await _trail(env)])
    for secret in ("not-the-password-1", "Hunter2-typed-as-name", password):
        assert secret not in dumped
    assert all(e.at > 0 for e in await _trail(env))


async def test_setting_changes_record_old_and_new_values_and_who(
    admin_env: AdminEnv, http: aiohttp.ClientSession
) -> None:
    env = admin_env
    user, password = env.tenant_admin
    await _sign_in(http, user, password)
    csrf = await _csrf(http)
    async with http.get(f"/api/links/{env.link.id}/settings") as current:
        values = await current.json()
    form = {name: _text(values.get(name)) for name, *_ in TEXTS}
    form |= {name: "true" for name, *_ in CHECKBOXES if values.get(name) is True}
    form |= {"csrf_token": csrf, "ranges": "300-399"}
    async with http.post(f"/links/{env.link.id}/settings", data=form) as saved:
        assert saved.status == 200 and "Settings saved." in await saved.text()
    async with http.put(
        f"/api/links/{env.link.id}/settings",
        json={"alert_emails": "ops@example.com"},
        headers={"X-CSRF-Token": csrf},
    ) as api:
        assert api.status == 200, await api.text()
    page_row, api_row = reversed(await _trail(env, "settings changed"))
    assert page_row.actor == f"admin:{user}" and page_row.reason == "Settings"
    assert (page_row.before["ranges"], page_row.after["ranges"]) == ("200-299", "300-399")
    assert api_row.reason == "API" and api_row.after == {"alert_emails": ["ops@example.com"]}
    # Saving the same values again changes nothing and records nothing.
    async with http.put(
        f"/api/links/{env.link.id}/settings",
        json={"alert_emails": "ops@example.com"},
        headers={"X-CSRF-Token": csrf},
    ) as again:
        assert again.status == 200
    assert len(await _trail(env, "settings changed")) == 2


async def test_conflicts_are_recorded_once_each_not_once_per_round(
    admin_env: AdminEnv, http: aiohttp.ClientSession
) -> None:
    """The demo's Dan Wu has an email conflict (his address is on 250 and 251)."""
    env = admin_env
    await _sign_in(http, *env.tenant_admin)
    csrf = await _csrf(http)
    for _ in range(3):
        async with http.post(
            f"/api/links/{env.link.id}/resync", json={"full": True}, headers={"X-CSRF-Token": csrf}
        ) as synced:
            assert synced.status == 200, await synced.text()
    found = await _trail(env, "conflict")
    assert found, "the demo's conflicts are in the trail"
    keys = [(e.user_id, e.reason) for e in found]
    assert len(keys) == len(set(keys)), keys
    dan = [e for e in found if e.user_id == env.user_ids["Dan"]]
    assert len(dan) == 1 and dan[0].reason.startswith("email:")
    assert dan[0].outcome == "found" and dan[0].trigger == "manual"


async def test_held_decisions_are_recorded_with_who_decided(
    admin_env: AdminEnv, http: aiohttp.ClientSession
) -> None:
    env = admin_env
    user, password = env.tenant_admin
    domain = env.emus.info["tenant_domain"]
    for number in ("260", "261"):
        env.pbx.add_extension(number, email=f"gone{number}@{domain}")
    await save_settings(
        env.db,
        env.link.id,
        {**env.link.settings, "disable_threshold_count": 1, "disable_threshold_percent": 0},
    )
    await _sign_in(http, user, password)
    headers = {"X-CSRF-Token": await _csrf(http)}
    async with http.post(f"/api/links/{env.link.id}/unmatched", headers=headers) as applied:
        assert applied.status == 200
    async with http.get(f"/api/links/{env.link.id}/held") as listed:
        held = {h["action"]["number"]: h["id"] for h in (await listed.json())["held"]}
    async with http.post(
        f"/api/links/{env.link.id}/held/approve", json={"ids": [held["260"]]}, headers=headers
    ) as approved:
        assert approved.status == 200, await approved.text()
    async with http.post(
        f"/api/links/{env.link.id}/held/reject", json={}, headers=headers
    ) as rejected:
        count = (await rejected.json())["rejected"]
    (approval,) = await _trail(env, "held action approved")
    assert (approval.number, approval.actor) == ("260", f"admin:{user}")
    rows = await _trail(env, "held action rejected")
    assert len(rows) == count == len(held) - 1
    assert "261" in {e.number for e in rows} and "260" not in {e.number for e in rows}
    assert {e.actor for e in rows} == {f"admin:{user}"}


async def test_no_secret_used_in_the_test_is_in_the_trail_its_csv_api_or_database_file(
    admin_env: AdminEnv, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    env = admin_env
    info = env.emus.info
    user, password = env.tenant_admin
    await _sign_in(http, user, "wrong-password-typed-once")
    await _sign_in(http, "password-typed-as-name-9", "x")
    await _sign_in(http, DAEMON_ADMIN, "wrong-daemon-password")
    await _sign_in(http, DAEMON_ADMIN, DAEMON_PASSWORD)
    headers = {"X-CSRF-Token": await _csrf(http)}
    async with http.post("/api/tokens", json={"name": "ci"}, headers=headers) as made:
        api_token = (await made.json())["token"]
    # Setup saves with the client secret typed again (and a mode switch), Settings saves.
    async with http.post(
        f"/links/{env.link.id}/setup/save",
        data={
            "csrf_token": headers["X-CSRF-Token"],
            "scope": "all",
            "auth_mode": "application",
            "client_secret": info["client_secret"],
            "auto_create": "true",
        },
    ) as saved:
        assert saved.status == 200, await saved.text()
    async with http.post(
        f"/api/links/{env.link.id}/resync", json={"full": True}, headers=headers
    ) as synced:
        assert synced.status == 200
    async with http.post("/logout", data={"csrf_token": headers["X-CSRF-Token"]}) as out:
        assert out.status == 200
    await _sign_in(http, user, password)
    headers = {"X-CSRF-Token": await _csrf(http)}
    async with http.put(
        f"/api/links/{env.link.id}/settings", json={"ranges": "200-299,400-449"}, headers=headers
    ) as api:
        assert api.status == 200

    trail = await _trail(env)
    actions = {e.action for e in trail}
    assert {"sign-in", "sign-out", "setup saved", "settings changed", "create"} <= actions
    setup = next(e for e in trail if e.action == "setup saved")
    assert setup.after.get("client_secret") == "(replaced)"

    # Every access token the product showed Graph (the emulator remembers what it verified).
    graph_tokens = list(env.emus.graph.identity._verified)
    assert graph_tokens, "the product used Graph tokens in this test"
    secrets = [
        password,
        DAEMON_PASSWORD,
        "wrong-password-typed-once",
        "wrong-daemon-password",
        "password-typed-as-name-9",
        info["client_secret"],
        api_token,
        *graph_tokens,
    ]
    async with http.get(f"/links/{env.link.id}/activity.csv") as export:
        csv_text = await export.text()
    assert len(list(csv.reader(io.StringIO(csv_text)))) == len(trail) + 1
    async with http.get(f"/api/links/{env.link.id}/audit?limit=1000") as api_audit:
        api_text = await api_audit.text()
    async with http.get(f"/links/{env.link.id}/activity") as page:
        page_text = await page.text()
    raw_rows = _raw_audit_rows(env.settings.database)
    raw_file = b"".join(
        p.read_bytes() for p in env.settings.database.parent.glob(env.settings.database.name + "*")
    )
    for secret in secrets:
        for where, text in (("csv", csv_text), ("api", api_text), ("page", page_text)):
            assert secret not in text, f"a secret is in the audit {where}"
        assert secret not in raw_rows, "a secret is in the database's audit rows"
        assert secret.encode() not in raw_file, "a secret is in the database file"


def _raw_audit_rows(path: Path) -> str:
    """The audit table as SQLite stores it, read by a second connection (WAL: committed rows
    are visible)."""
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        return "\n".join(repr(r) for r in conn.execute("SELECT * FROM audit"))
