"""The users <-> extensions view stays usable for a 10,000-user tenant: paged, searchable,
both as JSON and as the page (speed is measured by bench/directory_view.py)."""

from __future__ import annotations

import re
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from admin.passwords import hash_password
from cli.app import create_daemon_app
from emulators.harness import running_emulators
from store import Database, SecretBox, generate_key
from store.admins import set_admin_account
from store.models import AuthMode
from tests.plugins.browser import DAEMON_ADMIN, DAEMON_PASSWORD, link_for_emulators
from tests.test_admin_security import _csrf, _sign_in
from worker.linkadmin import add_link, check_link
from worker.settings import Settings


@pytest.mark.slow
async def test_ten_thousand_users_in_the_directory_view(tmp_path: Path) -> None:
    async with running_emulators(tmp_path / "emulators", users=10_000, extensions=1_000) as emus:
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
                api = f"/api/links/{link.id}/directory"
                async with http.get(f"{api}?offset=5000&limit=50") as r:
                    page = await r.json()
                assert page["total"] > 5000 and len(page["rows"]) == 50
                states = {row["state"] for row in page["rows"]}
                assert states <= {"linked", "no_extension", "email_conflict"}, states
                async with http.get(f"{api}?q=linked&limit=200") as r:
                    linked = await r.json()
                assert 0 < linked["total"] < page["total"]
                assert all(row["number"] for row in linked["rows"])
                async with http.get(f"{api}?view=extensions&limit=200") as r:
                    spare = await r.json()
                assert spare["total"] == spare["extensions_total"]
                async with http.get(f"/links/{link.id}/directory?offset=5000") as r:
                    html = await r.text()
                assert r.status == 200
                assert html.count('<tr data-state="') == 50
                shown = re.search(r"5,001 to 5,050 of ([\d,]+)", html)
                assert shown and int(shown.group(1).replace(",", "")) == page["total"]
        finally:
            await server.close()
            await db.close()
