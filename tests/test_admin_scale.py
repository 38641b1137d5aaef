"""The popup's API stays usable for a 10,000-user tenant."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from admin.passwords import hash_password
from cli.app import create_daemon_app
from emulators.harness import running_emulators
from store import Database, SecretBox, generate_key
from store.admins import set_admin_account
from store.models import AuthMode, Link
from tests.plugins.browser import DAEMON_ADMIN, DAEMON_PASSWORD, link_for_emulators
from tests.test_admin_security import _csrf, _sign_in
from worker.linkadmin import add_link, check_link
from worker.settings import Settings


@asynccontextmanager
async def large_tenant(
    tmp_path: Path, *, users: int, extensions: int = 0
) -> AsyncIterator[tuple[aiohttp.ClientSession, Link]]:
    """The real daemon app on emulators with `users` directory users, after a full resync,
    and the daemon admin's signed-in session (CSRF header set)."""
    async with running_emulators(
        tmp_path / "emulators", users=users, extensions=extensions
    ) as emus:
        db = await Database.open(tmp_path / "m365sync.db", SecretBox([generate_key().encode()]))
        settings = Settings(data_dir=tmp_path, database=tmp_path / "m365sync.db")
        server = TestServer(create_daemon_app(settings, db=db), host="127.0.0.1")
        await server.start_server()
        try:
            info = emus.info
            link = await add_link(
                db,
                link_for_emulators(info, mode=AuthMode.APPLICATION),
                pbx_password=info["pbx_tenant_admin_password"],
                client_secret=info["client_secret"],
            )
            assert (await check_link(db, link.id, settings)).state.value == "active"
            await set_admin_account(db, DAEMON_ADMIN, hash_password(DAEMON_PASSWORD, n=2**12))
            jar = aiohttp.CookieJar(unsafe=True)
            base = str(server.make_url("")).rstrip("/")
            async with aiohttp.ClientSession(base, cookie_jar=jar) as http:
                await _sign_in(http, DAEMON_ADMIN, DAEMON_PASSWORD)
                http.headers["X-CSRF-Token"] = await _csrf(http)
                async with http.post(f"/api/links/{link.id}/resync", json={"full": True}) as r:
                    assert r.status == 200
                yield http, link
        finally:
            await server.close()
            await db.close()


@pytest.mark.slow
async def test_ten_thousand_users_page_search_and_preview(tmp_path: Path) -> None:
    """With 10,000 directory users, paging, search and the conflict preview all work."""
    async with large_tenant(tmp_path, users=10_000) as (http, link):
        async with http.get(f"/api/links/{link.id}/users?offset=5000&limit=50") as r:
            page = await r.json()
        assert page["total"] > 5000 and len(page["users"]) == 50
        async with http.get(f"/api/links/{link.id}/users?q=smith") as r:
            found = await r.json()
        assert 0 < found["total"] < page["total"]
        visible = [u["id"] for u in page["users"]]
        chosen = [{"id": uid, "number": None} for uid in visible[:20]]
        async with http.post(
            f"/api/links/{link.id}/selection/preview",
            json={"chosen": chosen, "visible": visible},
        ) as r:
            preview = await r.json()
        assert len(preview["results"]) == 50
