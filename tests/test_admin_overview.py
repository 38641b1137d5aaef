"""The Overview in an admin's words: how changes arrive (push with a subscription, else full
comparisons only), the next full comparison, the last read and the last PBX change (right
after Sync Users created extensions, not "never"); "Send test e-mail" through a real SMTP
server on loopback; the held card without buttons when nothing waits."""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from admin.overview import sync_mode
from cli.app import create_daemon_app
from store.links import update_link
from store.models import AuthMode, Subscription
from store.subscriptions import client_state_hash, put_subscription
from tests.plugins.browser import AdminEnv
from tests.test_admin_security import _csrf, _sign_in
from tests.test_alerts import SmtpServer, smtp_server  # noqa: F401 (the fixture)
from worker.linkadmin import check_link, save_settings
from worker.polling import PollMode
from worker.status import link_status


async def _activate(env: AdminEnv) -> None:
    env.emus.graph.identity.grant_admin_consent(env.emus.info["client_id"])
    await update_link(env.db, env.link.id, auth_mode=AuthMode.APPLICATION)
    assert (await check_link(env.db, env.link.id, env.settings)).state.value == "active"


@pytest.fixture
async def http(admin_env: AdminEnv) -> AsyncIterator[aiohttp.ClientSession]:
    await _activate(admin_env)
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(admin_env.base_url, cookie_jar=jar) as session:
        assert (await _sign_in(session, *admin_env.tenant_admin)).status == 303
        session.headers["X-CSRF-Token"] = await _csrf(session)
        yield session


def _fact(page: str, dd_id: str) -> str:
    match = re.search(rf'<dd id="{dd_id}"[^>]*>(.*?)</dd>', page, re.S)
    assert match, dd_id
    return re.sub(r"<[^>]+>", "", match.group(1)).replace("\u00a0", " ")


async def _overview(env: AdminEnv, http: aiohttp.ClientSession) -> str:
    async with http.get(f"/links/{env.link.id}") as response:
        assert response.status == 200
        return await response.text()


async def test_last_pbx_change_is_shown_right_after_sync_users_creates(
    admin_env: AdminEnv, http: aiohttp.ClientSession
) -> None:
    env = admin_env
    page = await _overview(env, http)
    assert _fact(page, "last-read").startswith("not yet")
    assert _fact(page, "last-change") == "none yet"
    async with http.post(f"/api/links/{env.link.id}/resync", json={}) as read:
        assert read.status == 200
    chosen = [{"id": env.user_ids["Ann"], "number": "220"}]
    async with http.post(
        f"/api/links/{env.link.id}/selection/create", json={"chosen": chosen}
    ) as made:
        assert made.status == 200
    page = await _overview(env, http)
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC: extension 220 created", _fact(page, "last-change")
    )
    assert "Last round" not in page and "never" not in _fact(page, "last-change")


async def test_mode_and_next_full_comparison(
    admin_env: AdminEnv, http: aiohttp.ClientSession
) -> None:
    env = admin_env
    page = await _overview(env, http)
    # The admin_env daemon has no public URL: it polls.
    assert _fact(page, "sync-mode").startswith("Polling: this daemon asks Microsoft 365")
    assert "every minute" in _fact(page, "sync-mode")
    assert _fact(page, "next-sweep").startswith("due now")
    async with http.post(f"/api/links/{env.link.id}/resync", json={"sweep": True}) as swept:
        assert swept.status == 200, await swept.text()
    expires = time.time() + 3 * 86400
    await put_subscription(
        env.db,
        Subscription("sub-1", env.link.id, "/users", client_state_hash("x"), expires),
    )
    page = await _overview(env, http)
    # With a public URL the same subscription reads as push, with its safety check.
    status = await link_status(env.db, env.link)
    push = str(sync_mode(status, PollMode(push=True, interval_s=900)))
    assert push.startswith("Push: Microsoft 365 notifies") and "every 15 minutes" in push
    next_sweep = _fact(page, "next-sweep")
    assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC \(every few hours", next_sweep), next_sweep


async def test_held_card_has_no_buttons_when_nothing_waits(
    admin_env: AdminEnv, http: aiohttp.ClientSession
) -> None:
    page = await _overview(admin_env, http)
    assert 'id="held-none"' in page
    assert 'id="held-approve"' not in page and 'value="reject"' not in page
    assert page.count('href="/links/1/plan"') == 1  # the Dry-run plan entry, once
    assert 'id="open-unmatched" class="danger"' in page


async def test_send_test_email_arrives_through_the_smtp_server(
    admin_env: AdminEnv,
    smtp_server: SmtpServer,  # noqa: F811
) -> None:
    env = admin_env
    await _activate(env)
    await save_settings(
        env.db, env.link.id, {**env.link.settings, "alert_emails": "ops@example.com"}
    )
    settings = dataclasses.replace(env.settings, smtp_url=smtp_server.url())
    server = TestServer(create_daemon_app(settings, db=env.db), host="127.0.0.1")
    await server.start_server()
    try:
        jar = aiohttp.CookieJar(unsafe=True)
        async with aiohttp.ClientSession(str(server.make_url("")), cookie_jar=jar) as http:
            assert (await _sign_in(http, *env.tenant_admin)).status == 303
            csrf = await _csrf(http)
            async with http.post(
                f"/links/{env.link.id}/test-mail", data={"csrf_token": csrf}
            ) as sent:
                page = await sent.text()
    finally:
        await server.close()
    assert "Test e-mail sent to ops@example.com" in page
    [(to, message, raw)] = smtp_server.inbox.mails
    assert to == ["ops@example.com"]
    assert str(message["Subject"]).startswith("Test alert from Microsoft 365 User Directory Sync")
    assert smtp_server.inbox.logins and b"relay-pa55word" not in raw
    assert "relay-pa55word" not in page


async def test_send_test_email_says_what_is_missing(
    admin_env: AdminEnv, http: aiohttp.ClientSession
) -> None:
    env = admin_env
    csrf = await _csrf(http)
    async with http.post(f"/links/{env.link.id}/test-mail", data={"csrf_token": csrf}) as sent:
        page = await sent.text()
    assert "No mail server is set: start the daemon with M365SYNC_SMTP_URL." in page
