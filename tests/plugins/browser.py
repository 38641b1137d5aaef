"""The admin page on loopback: both emulators seeded by the demo's data, a delegated link in
Setup Required, the real app on a real port, and Debian's chromium driven by Playwright."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from admin.passwords import hash_password
from cli.app import create_daemon_app
from cli.commands.demo import link_for_emulators as emulator_link
from cli.commands.demo import seed_demo
from emulators.harness import RunningEmulators, running_emulators
from store import Database, SecretBox, generate_key, open_database
from store.admins import set_admin_account
from store.models import AuthMode, Link, NewLink
from tests.plugins.postgres import new_database
from worker.linkadmin import add_link
from worker.settings import Settings

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
DAEMON_ADMIN = "m365sync"
DAEMON_PASSWORD = "daemon-admin-password-1"
POLICY = {"auto_create": False, "ranges": "200-299", "phone_region": "US"}


@dataclass
class AdminEnv:
    emus: RunningEmulators
    db: Database
    settings: Settings
    server: TestServer
    link: Link
    user_ids: dict[str, str]

    @property
    def base_url(self) -> str:
        return str(self.server.make_url("")).rstrip("/")

    @property
    def tenant_admin(self) -> tuple[str, str]:
        info = self.emus.info
        return info["pbx_tenant_admin"], info["pbx_tenant_admin_password"]

    @property
    def pbx(self) -> Any:
        return self.emus.pbx.state


def link_for_emulators(
    info: dict[str, Any], *, name: str = "contoso", mode: AuthMode = AuthMode.DELEGATED
) -> NewLink:
    return emulator_link(info, name=name, settings=POLICY, auth_mode=mode)


@pytest.fixture
async def admin_env(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> AsyncIterator[AdminEnv]:
    async with running_emulators(tmp_path / "emulators") as emus:
        user_ids = seed_demo(emus)
        # The manual's first step is Admin Consent: start without it.
        emus.graph.identity.revoke_admin_consent(emus.info["client_id"])
        # `backend` is SQLite unless a test module asks for both (tests/plugins/store.py).
        url = None
        if backend == "postgresql":
            url = await new_database(request.getfixturevalue("pg_server"))
        db = await open_database(
            url or tmp_path / "m365sync.db", SecretBox([generate_key().encode()])
        )
        try:
            settings = Settings(
                data_dir=tmp_path, database=tmp_path / "m365sync.db", database_url=url
            )
            server = TestServer(create_daemon_app(settings, db=db), host="127.0.0.1")
            await server.start_server()
            try:
                link = await add_link(
                    db,
                    link_for_emulators(emus.info),
                    pbx_password=emus.info["pbx_tenant_admin_password"],
                    client_secret=emus.info["client_secret"],
                )
                await set_admin_account(db, DAEMON_ADMIN, hash_password(DAEMON_PASSWORD, n=2**12))
                yield AdminEnv(emus, db, settings, server, link, user_ids)
            finally:
                await server.close()
        finally:
            await db.close()


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    """Chromium from Debian; a missing browser is a failure, never a skip."""
    from playwright.async_api import async_playwright

    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium package")
    ARTIFACTS.mkdir(exist_ok=True)
    async with async_playwright() as playwright:
        instance = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        try:
            yield instance
        finally:
            await instance.close()
