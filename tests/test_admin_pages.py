"""The pages and the popup's API against both emulators, through a signed-in session."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator

import aiohttp
import pytest

from store.links import update_link
from store.models import AuthMode
from tests.plugins.browser import AdminEnv
from tests.test_admin_security import _csrf, _sign_in
from worker.linkadmin import check_link, save_settings

SCRIPT = "<script>alert(1)</script>"


@pytest.fixture
async def signed_in(admin_env: AdminEnv) -> AsyncIterator[aiohttp.ClientSession]:
    """A tenant-admin session on an active link (application mode, so no browser round trip)."""
    env = admin_env
    env.emus.graph.identity.grant_admin_consent(env.emus.info["client_id"])
    await update_link(env.db, env.link.id, auth_mode=AuthMode.APPLICATION)
    link = await check_link(env.db, env.link.id, env.settings)
    assert link.state.value == "active", link.state_reason
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(env.base_url, cookie_jar=jar) as http:
        assert (await _sign_in(http, *env.tenant_admin)).status == 303
        http.headers["X-CSRF-Token"] = await _csrf(http)
        async with http.post(f"/api/links/{env.link.id}/resync", json={}) as synced:
            assert synced.status == 200, await synced.text()
        yield http


async def test_directory_markup_is_shown_as_text_on_server_pages(
    admin_env: AdminEnv, signed_in: aiohttp.ClientSession
) -> None:
    """A given name like <script> appears escaped in the dry-run plan, never as markup."""
    env = admin_env
    domain = env.emus.info["tenant_domain"]
    env.emus.graph.directory.create_user(
        displayName="Evil Name",
        givenName=SCRIPT,
        surname="Evil",
        mail=f"evil@{domain}",
        userPrincipalName=f"evil@{domain}",
        accountEnabled=True,
    )
    await save_settings(env.db, env.link.id, {**env.link.settings, "auto_create": True})
    async with signed_in.get(f"/links/{env.link.id}/plan?full=1") as page:
        body = await page.text()
        assert page.headers["Content-Security-Policy"].startswith("default-src 'self'")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body
    assert SCRIPT not in body


async def test_users_api_pages_and_searches(
    admin_env: AdminEnv, signed_in: aiohttp.ClientSession
) -> None:
    """The popup's user list comes in pages with a total, and the search narrows it."""
    link_id = admin_env.link.id
    async with signed_in.get(f"/api/links/{link_id}/users?limit=2&offset=0") as first:
        data = await first.json()
    seeded = len(admin_env.user_ids)  # every seeded user is an active member
    assert data["total"] == seeded and len(data["users"]) == 2
    async with signed_in.get(f"/api/links/{link_id}/users?q=stone") as found:
        users = (await found.json())["users"]
    assert [u["email"] for u in users] == ["bob.stone@contoso.example"]
    async with signed_in.get(f"/api/links/{link_id}/users?ids=1") as ids:
        assert len((await ids.json())["ids"]) == seeded


async def test_preview_reports_each_conflict_kind(
    admin_env: AdminEnv, signed_in: aiohttp.ClientSession
) -> None:
    """Email conflict, number in use with a suggestion, and a number chosen twice."""
    env = admin_env
    ids = env.user_ids
    chosen = [
        {"id": ids["Ann"], "number": "200"},
        {"id": ids["Bob"], "number": "205"},
        {"id": ids["Cara"], "number": "205"},
        {"id": ids["Dan"], "number": None},
    ]
    async with signed_in.post(
        f"/api/links/{env.link.id}/selection/preview",
        json={"chosen": chosen, "visible": list(ids.values())},
    ) as response:
        data = await response.json()
    results = data["results"]
    assert results[ids["Ann"]]["conflict"] == "number"
    assert results[ids["Ann"]]["suggested_number"] == "201"
    assert results[ids["Bob"]]["conflict"] == "duplicate_selection"
    assert results[ids["Dan"]]["conflict"] == "email"
    assert results[ids["Eve"]]["status"] == "create"  # not chosen: what it would get
    assert sorted(data["conflicts"]) == sorted([ids["Ann"], ids["Bob"], ids["Cara"], ids["Dan"]])


async def test_preview_refuses_malformed_input(
    admin_env: AdminEnv, signed_in: aiohttp.ClientSession
) -> None:
    """Bodies that are not the documented shape are 400, not a server error."""
    url = f"/api/links/{admin_env.link.id}/selection/preview"
    for body in (
        {"chosen": "x"},
        {"chosen": [{"number": "201"}]},
        {"chosen": [{"id": "a", "number": 5}]},
    ):
        async with signed_in.post(url, json=body) as response:
            assert response.status == 400, body
    async with signed_in.post(
        url, data=b"not json", headers={"Content-Type": "application/json"}
    ) as bad:
        assert bad.status == 400


async def test_activity_lists_changes_and_exports_csv(
    admin_env: AdminEnv, signed_in: aiohttp.ClientSession
) -> None:
    """Created extensions appear in the audit trail, filterable, and in the CSV export."""
    env = admin_env
    chosen = [{"id": env.user_ids["Ann"], "number": "220"}]
    async with signed_in.post(
        f"/api/links/{env.link.id}/selection/create", json={"chosen": chosen}
    ) as made:
        results = (await made.json())["results"]
    assert [(r["outcome"], r["number"]) for r in results] == [("created", "220")]
    async with signed_in.get(f"/links/{env.link.id}/activity?q=220") as page:
        body = await page.text()
    assert "220" in body and "admin@" in body
    async with signed_in.get(f"/links/{env.link.id}/activity.csv?q=220") as export:
        assert export.content_type == "text/csv"
        rows = list(csv.DictReader(io.StringIO(await export.text())))
    assert rows and rows[0]["number"] == "220" and rows[0]["trigger"] == "selection"
    async with signed_in.get(f"/api/links/{env.link.id}/audit?action=create") as api:
        entries = (await api.json())["entries"]
    assert [e["number"] for e in entries] == ["220"]


async def test_settings_form_shows_the_error_next_to_the_field(
    admin_env: AdminEnv, signed_in: aiohttp.ClientSession
) -> None:
    """An invalid range is refused with its message beside the ranges field; nothing is saved."""
    form = {
        "csrf_token": signed_in.headers["X-CSRF-Token"],
        "ranges": "99-x",
        "auto_create": "true",
    }
    async with signed_in.post(f"/links/{admin_env.link.id}/settings", data=form) as page:
        assert page.status == 422
        body = await page.text()
    assert 'id="err-ranges"' in body
    from store.links import get_link

    assert (await get_link(admin_env.db, admin_env.link.id)).settings["ranges"] == "200-299"


async def test_links_api_reports_state_rounds_and_queue(
    admin_env: AdminEnv, signed_in: aiohttp.ClientSession
) -> None:
    """The Links data: state, last round, queue depth and failed events for the link."""
    async with signed_in.get("/api/links") as listing:
        (link,) = (await listing.json())["links"]
    assert link["state"] == "active" and link["state_reason"] == ""
    assert link["last_round_at"] is not None and link["last_round_outcome"] == "ok"
    assert (link["queue_pending"], link["events_failed"], link["held_actions"]) == (0, 0, 0)
    async with signed_in.get("/links") as page:
        body = await page.text()
    assert "Integration active" in body and "contoso" in body


async def test_held_disables_can_be_rejected_and_stay_enabled(
    admin_env: AdminEnv, signed_in: aiohttp.ClientSession
) -> None:
    """Over the threshold, Disable Unmatched holds; rejecting leaves the extensions enabled."""
    env = admin_env
    domain = env.emus.info["tenant_domain"]
    for number in ("260", "261"):
        env.pbx.add_extension(number, email=f"gone{number}@{domain}")
    await save_settings(
        env.db,
        env.link.id,
        {**env.link.settings, "disable_threshold_count": 1, "disable_threshold_percent": 0},
    )
    async with signed_in.post(f"/api/links/{env.link.id}/unmatched") as applied:
        outcomes = {r["number"]: r["outcome"] for r in (await applied.json())["results"]}
    assert outcomes == {
        "200": "held for approval",
        "260": "held for approval",
        "261": "held for approval",
    }
    async with signed_in.post(f"/api/links/{env.link.id}/held/reject", json={}) as rejected:
        assert (await rejected.json())["rejected"] == 3
    async with signed_in.get(f"/api/links/{env.link.id}/held") as held:
        assert (await held.json())["held"] == []
    assert all(env.pbx.get(n).settings["disabled"] in (False, "false") for n in ("200", "260"))


async def test_popup_skips_numbers_of_other_pbx_accounts(
    admin_env: AdminEnv, signed_in: aiohttp.ClientSession
) -> None:
    """With a range over the PBX's hunt group, queue and IVR (800-802), auto-assign starts
    at 803, and asking for 800 is a number conflict naming the hunt group, 803 suggested."""
    env = admin_env
    ids = env.user_ids
    await save_settings(env.db, env.link.id, {**env.link.settings, "ranges": "800-809"})
    async with signed_in.post(
        f"/api/links/{env.link.id}/selection/auto-assign", json={"ids": [ids["Eve"], ids["Bob"]]}
    ) as response:
        assert response.status == 200, await response.text()
        numbers = (await response.json())["numbers"]
    assert numbers == {ids["Eve"]: "803", ids["Bob"]: "804"}
    async with signed_in.post(
        f"/api/links/{env.link.id}/selection/preview",
        json={"chosen": [{"id": ids["Eve"], "number": "800"}], "visible": [ids["Eve"]]},
    ) as response:
        result = (await response.json())["results"][ids["Eve"]]
    assert result["conflict"] == "number"
    assert "800 is already in use by a hunt group" in result["message"]
    assert result["suggested_number"] == "803"
