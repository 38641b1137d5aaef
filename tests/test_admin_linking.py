"""A conflict's way out (Link to / Re-enable), the users <-> extensions view and the Disable
Unmatched preview with unticked rows: the real app against both emulators, signed in."""

from __future__ import annotations

import re
from typing import Any

import aiohttp
import pytest

from admin.linking import last_seen_by_email
from store.directory import get_bindings
from store.models import DirectoryUser
from store.records import list_audit
from tests.plugins.browser import AdminEnv
from tests.test_admin_pages import signed_in  # noqa: F401 (the fixture)


@pytest.fixture
def http(signed_in: aiohttp.ClientSession) -> aiohttp.ClientSession:  # noqa: F811
    """A tenant-admin session on an active link after one round (application mode)."""
    return signed_in


async def _post(http: aiohttp.ClientSession, url: str, body: Any) -> tuple[int, Any]:
    async with http.post(url, json=body) as response:
        return response.status, await response.json()


async def _get(http: aiohttp.ClientSession, url: str) -> Any:
    async with http.get(url) as response:
        assert response.status == 200, await response.text()
        return await response.json()


async def _preview_of(http: aiohttp.ClientSession, env: AdminEnv, uid: str) -> dict[str, Any]:
    status, data = await _post(
        http, f"/api/links/{env.link.id}/selection/preview", {"chosen": [], "visible": [uid]}
    )
    assert status == 200
    result: dict[str, Any] = data["results"][uid]
    return result


async def test_email_conflict_offers_link_to_each_free_extension_and_links(
    admin_env: AdminEnv, http: aiohttp.ClientSession
) -> None:
    """Dan's email is on 250 and 251: the preview offers both; Link to 250 binds Dan, writes
    his fields to 250 on the PBX, is audited with the admin as actor, and the conflict is gone."""
    env = admin_env
    dan = env.user_ids["Dan"]
    env.pbx.get("250").settings["first_name"] = "Daniel"
    before = await _preview_of(http, env, dan)
    assert before["conflict"] == "email" and before["link_to"] == ["250", "251"]
    # Both lists are read (and cached) before the write: the write must show at once.
    assert (await _get(http, f"/api/links/{env.link.id}/users?q=dan.wu"))["users"][0][
        "number"
    ] is None
    spare = await _get(http, f"/api/links/{env.link.id}/directory?view=extensions")
    assert spare["total"] == 3

    status, out = await _post(
        http, f"/api/links/{env.link.id}/link", {"user_id": dan, "number": "250"}
    )
    assert status == 200, out
    assert out["outcome"] == "linked" and out["number"] == "250"
    assert {"field": "first_name", "old": "Daniel", "new": "Dan"} in out["changes"]
    assert env.pbx.get("250").settings["first_name"] == "Dan"
    assert [(b.user_id, b.number) for b in await get_bindings(env.db, env.link.id)] == [
        (dan, "250")
    ]
    audit = await list_audit(env.db, env.link.id, action="bind")
    assert [(a.number, a.outcome, a.actor, a.trigger) for a in audit] == [
        ("250", "ok", f"admin:{env.tenant_admin[0]}", "link_extension")
    ]
    users = await _get(http, f"/api/links/{env.link.id}/users?q=dan.wu")
    assert users["users"][0]["number"] == "250"
    # 251 keeps Dan's email but is linked to no one: it shows as an extension with no user.
    spare = await _get(http, f"/api/links/{env.link.id}/directory?view=extensions")
    assert [(r["number"], r["state"]) for r in spare["rows"]] == [
        ("200", "unlinked"),
        ("251", "unlinked"),
    ]


async def test_link_is_refused_without_writing_when_it_cannot_be_done(
    admin_env: AdminEnv, http: aiohttp.ClientSession
) -> None:
    """A number not on the PBX, or one already linked: refused, nothing written."""
    env = admin_env
    dan, ann = env.user_ids["Dan"], env.user_ids["Ann"]
    url = f"/api/links/{env.link.id}/link"
    status, out = await _post(http, url, {"user_id": dan, "number": "299"})
    assert status == 200 and out["outcome"] == "refused"
    assert "299 is not on the PBX" in out["message"]
    assert (await _post(http, url, {"user_id": dan, "number": "250"}))[1]["outcome"] == "linked"
    status, out = await _post(http, url, {"user_id": ann, "number": "250"})
    assert out["outcome"] == "refused" and "already linked" in out["message"]
    assert [b.user_id for b in await get_bindings(env.db, env.link.id)] == [dan]
    assert env.pbx.get("250").settings["email_address"].startswith("dan.wu@")


async def test_reenable_a_disabled_linked_extension(
    admin_env: AdminEnv, http: aiohttp.ClientSession
) -> None:
    """Disabled on the PBX while its user is active: the popup's row and the view offer
    Re-enable; it enables the extension, audited. An extension with no user is refused."""
    env = admin_env
    dan = env.user_ids["Dan"]
    base = f"/api/links/{env.link.id}"
    assert (await _post(http, f"{base}/link", {"user_id": dan, "number": "250"}))[0] == 200
    env.pbx.set_disabled(["250"], True)
    async with http.post(f"{base}/resync", json={}) as synced:
        assert synced.status == 200
    row = (await _get(http, f"{base}/users?q=dan.wu"))["users"][0]
    assert row["number"] == "250" and row["disabled"] is True
    view = (await _get(http, f"{base}/directory?q=dan.wu"))["rows"][0]
    assert view["state"] == "disabled" and view["can_reenable"] is True

    status, out = await _post(http, f"{base}/reenable", {"number": "250"})
    assert status == 200 and out["outcome"] == "re-enabled", out
    assert not env.pbx.shown_disabled("250")
    audit = await list_audit(env.db, env.link.id, action="enable")
    assert [(a.number, a.trigger) for a in audit] == [("250", "reenable")]

    env.pbx.set_disabled(["251"], True)
    status, out = await _post(http, f"{base}/reenable", {"number": "251"})
    assert out["outcome"] == "refused" and "linked to no Microsoft 365 user" in out["message"]
    assert env.pbx.shown_disabled("251")


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("link", {"user_id": "x"}),
        ("link", {"user_id": 5, "number": "250"}),
        ("link", {"user_id": "x", "number": "2" * 17}),
        ("link", {"user_id": "x" * 101, "number": "250"}),
        ("link", []),
        ("reenable", {"number": ["250"]}),
        ("reenable", {}),
        ("unmatched", {"exclude": "200"}),
        ("unmatched", {"exclude": [200]}),
        ("unmatched", {"exclude": ["2" * 17]}),
    ],
)
async def test_bad_input_is_a_400_naming_the_field(
    admin_env: AdminEnv, http: aiohttp.ClientSession, path: str, body: Any
) -> None:
    env = admin_env
    status, out = await _post(http, f"/api/links/{env.link.id}/{path}", body)
    assert status == 400, out
    assert await get_bindings(env.db, env.link.id) == []
    assert not env.pbx.shown_disabled("200")


async def test_writes_need_the_csrf_header(
    admin_env: AdminEnv, http: aiohttp.ClientSession
) -> None:
    env = admin_env
    del http.headers["X-CSRF-Token"]
    body = {"user_id": env.user_ids["Dan"], "number": "250"}
    async with http.post(f"/api/links/{env.link.id}/link", json=body) as response:
        assert response.status == 403
    assert await get_bindings(env.db, env.link.id) == []


async def test_directory_view_lists_users_and_spare_extensions_with_search_and_pages(
    admin_env: AdminEnv, http: aiohttp.ClientSession
) -> None:
    env = admin_env
    base = f"/api/links/{env.link.id}/directory"
    users = await _get(http, f"{base}?limit=2")
    assert users["total"] == len(env.user_ids) and len(users["rows"]) == 2
    assert users["extensions_total"] == 3
    dan = (await _get(http, f"{base}?q=dan.wu"))["rows"]
    assert [(r["state"], r["link_to"]) for r in dan] == [("email_conflict", ["250", "251"])]
    waiting = await _get(http, f"{base}?q=waiting")
    assert waiting["total"] == 0  # the state words are searched as written, not the detail
    pat = (await _get(http, f"{base}?q=pat%20kim"))["rows"]
    assert [r["state"] for r in pat] == ["no_email"]  # a guest-style UPN is no email
    found = await _get(http, f"{base}?q=no%20extension")
    # All but Dan (his email is taken) and Pat (no usable email): waiting for a number.
    assert found["total"] == len(env.user_ids) - 2
    spare = await _get(http, f"{base}?view=extensions")
    assert [r["number"] for r in spare["rows"]] == ["200", "250", "251"]
    async with http.get(f"{base}?view=nope") as bad:
        assert bad.status == 400
    async with http.get(f"{base}?offset=x") as bad:
        assert bad.status == 400


async def test_directory_page_asks_before_it_writes(
    admin_env: AdminEnv, http: aiohttp.ClientSession
) -> None:
    """The page's Link to button posts a form; without confirmed=1 the answer is a
    confirmation page and nothing is written; confirmed, the user is linked."""
    env = admin_env
    dan = env.user_ids["Dan"]
    async with http.get(f"/links/{env.link.id}/directory?q=dan") as page:
        html = await page.text()
    assert "Link to 250" in html and "Link to 251" in html and "data-confirm=" in html
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert csrf
    form = {
        "csrf_token": csrf.group(1),
        "user_id": dan,
        "number": "251",
        "view": "users",
        "q": "dan",
    }
    async with http.post(f"/links/{env.link.id}/directory/link", data=form) as first:
        asked = await first.text()
    assert first.status == 200 and "Please confirm" in asked
    assert 'name="confirmed" value="1"' in asked
    assert await get_bindings(env.db, env.link.id) == []
    async with http.post(
        f"/links/{env.link.id}/directory/link", data={**form, "confirmed": "1"}
    ) as done:
        page_after = await done.text()
    assert done.status == 200 and "is now linked to extension 251" in page_after
    assert [(b.user_id, b.number) for b in await get_bindings(env.db, env.link.id)] == [
        (dan, "251")
    ]


async def test_disable_unmatched_preview_rows_and_an_unticked_row_left_out(
    admin_env: AdminEnv, http: aiohttp.ClientSession
) -> None:
    """The preview names each extension (name, email, last seen); an excluded number is left
    enabled on the PBX and reported as left out, the others are disabled."""
    env = admin_env
    domain = env.emus.info["tenant_domain"]
    env.pbx.add_extension("260", first_name="Gone", last_name="Away", email=f"gone@{domain}")
    base = f"/api/links/{env.link.id}/unmatched"
    preview = await _get(http, base)
    rows = {r["number"]: r for r in preview["rows"]}
    assert set(rows) == {"200", "260"}
    assert rows["200"]["name"] == "Old Employee"
    assert rows["200"]["email"] == f"old.employee@{domain}"
    assert rows["200"]["last_seen"] is None and rows["200"]["action"] == "disable"
    status, out = await _post(http, base, {"exclude": ["260"]})
    assert status == 200
    outcomes = {r["number"]: r["outcome"] for r in out["results"]}
    assert outcomes == {"200": "disabled", "260": "left out"}
    assert env.pbx.shown_disabled("200") and not env.pbx.shown_disabled("260")


def test_last_seen_counts_leavers_by_either_email() -> None:
    """A deleted user still tells when its email was last seen; the newest sighting wins."""
    users = {
        "a": DirectoryUser(id="a", mail="Old@X.example", updated_at=100.0),
        "b": DirectoryUser(id="b", user_principal_name="old@x.example", updated_at=50.0),
        "c": DirectoryUser(id="c", mail=None, user_principal_name="c@x.example", updated_at=7.0),
    }
    assert last_seen_by_email(users) == {"old@x.example": 100.0, "c@x.example": 7.0}


async def test_dry_run_points_each_email_conflict_to_its_way_out(
    admin_env: AdminEnv, http: aiohttp.ClientSession
) -> None:
    env = admin_env
    async with http.get(f"/links/{env.link.id}/plan?full=1") as page:
        html = await page.text()
    assert "Email conflicts you can resolve" in html
    href = f"/links/{env.link.id}/directory?view=users&amp;q=dan.wu%40contoso.example"
    assert f'<a href="{href}">dan.wu@contoso.example: link to one of its extensions</a>' in html
    async with http.get(href.replace("&amp;", "&")) as target:
        assert "Link to 250" in await target.text()
