"""A link whose every doctor check can pass: both emulators, the real app served over HTTPS
with its own test CA (which the Graph emulator trusts for notifications), a public URL,
and a live subscription."""

from __future__ import annotations

import datetime as dt
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from cli.app import create_daemon_app
from cli.commands.demo import add_emulator_link
from emulators.harness import RunningEmulators, running_emulators
from emulators.tls import TestCA, create_test_ca
from store import Database, SecretBox, generate_key
from store.models import Link
from tests.plugins.identity import HttpsServer, serve_https
from worker.doctor import Report, run_doctor
from worker.linkadmin import check_link
from worker.linkctx import open_link_clients
from worker.settings import Settings
from worker.subscriptions import ensure_subscription

POLICY: dict[str, Any] = {"auto_create": True, "ranges": "200-299", "phone_region": "US"}


@dataclass
class DoctorEnv:
    emus: RunningEmulators
    db: Database
    settings: Settings  # with the HTTPS public URL
    link: Link
    webhook_ca: TestCA
    webhook: HttpsServer
    secret_key: str
    db_path: Path

    @property
    def trust(self) -> ssl.SSLContext:
        """Stands in for the system trust store: it knows the webhook's CA."""
        return self.webhook_ca.client_context()

    async def doctor(self, **overrides: Any) -> Report:
        from store.links import get_link

        link = await get_link(self.db, self.link.id)
        options: dict[str, Any] = {"public_trust": self.trust, **overrides}
        settings = options.pop("settings", self.settings)
        return await run_doctor(self.db, link, settings, **options)


def in_days(days: int) -> str:
    return (dt.datetime.now(dt.UTC).date() + dt.timedelta(days=days)).isoformat()


@pytest.fixture
async def doctor_env(tmp_path: Path) -> AsyncIterator[DoctorEnv]:
    async with running_emulators(tmp_path / "emulators", users=3) as emus:
        emus.graph.identity.grant_admin_consent(emus.info["client_id"])
        secret_key = generate_key()
        db_path = tmp_path / "m365sync.db"
        db = await Database.open(db_path, SecretBox([secret_key.encode()]))
        try:
            base = Settings(data_dir=tmp_path, database=db_path)
            webhook_ca = create_test_ca(tmp_path / "webhook-ca")
            webhook = await serve_https(create_daemon_app(base, db=db), webhook_ca)
            try:
                emus.graph.trust_notification_ca(str(webhook_ca.ca_path))
                settings = replace(base, public_url=webhook.origin)
                link = await add_emulator_link(
                    db,
                    emus.info,
                    name="contoso",
                    settings={**POLICY, "client_secret_expires": in_days(365)},
                )
                link = await check_link(db, link.id, settings)
                assert link.state.value == "active", link.state_reason
                async with await open_link_clients(db, link, settings) as clients:
                    await ensure_subscription(db, link, clients.graph, webhook.origin)
                yield DoctorEnv(emus, db, settings, link, webhook_ca, webhook, secret_key, db_path)
            finally:
                await webhook.runner.cleanup()
        finally:
            await db.close()


async def serve_plain_https(ca: TestCA) -> HttpsServer:
    """An HTTPS server that knows no route: a public name that does not reach the daemon."""
    return await serve_https(web.Application(), ca)
