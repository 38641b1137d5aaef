"""HTTPS serving: `m365sync serve` with M365SYNC_TLS_CERT/KEY (a trustme certificate) in
its own process; the Graph emulator validates the subscription over TLS and delivers a
change notification that ends as an extension on the PBX."""

from __future__ import annotations

import asyncio
import os
import socket
import ssl
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import trustme

from emulators.harness import RunningEmulators, running_emulators
from store import Database, SecretBox, generate_key
from tests.plugins.pipeline import DEFAULT_POLICY, new_link
from worker.linkadmin import add_link, check_link
from worker.settings import Settings

WAIT_S = 30.0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def eventually(check: Callable[[], bool], what: str) -> None:
    """Poll a condition that another process makes true (no event crosses processes)."""
    async with asyncio.timeout(WAIT_S):
        while not check():  # noqa: ASYNC110 - the condition lives in another process
            await asyncio.sleep(0.05)
    assert check(), what


class Daemon:
    def __init__(self, proc: asyncio.subprocess.Process, log_path: Path, url: str) -> None:
        self.proc, self.log_path, self.url = proc, log_path, url

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")


@pytest.fixture
async def tls_files(tmp_path: Path) -> tuple[Path, Path, Path]:
    ca = trustme.CA(organization_name="m365sync TLS test CA")
    leaf = ca.issue_cert("127.0.0.1", "localhost")
    cert, key, ca_path = tmp_path / "cert.pem", tmp_path / "key.pem", tmp_path / "ca.pem"
    leaf.cert_chain_pems[0].write_to_path(str(cert))
    leaf.private_key_pem.write_to_path(str(key))
    ca.cert_pem.write_to_path(str(ca_path))
    return cert, key, ca_path


@pytest.fixture
async def emus(tmp_path: Path) -> AsyncIterator[RunningEmulators]:
    async with running_emulators(tmp_path / "emulators") as running:
        running.graph.identity.grant_admin_consent(running.info["client_id"])
        yield running


async def _prepare_store(tmp_path: Path, emus: RunningEmulators) -> str:
    key = generate_key()
    db = await Database.open(tmp_path / "m365sync.db", SecretBox([key.encode()]))
    try:
        info = emus.info
        link = await add_link(
            db,
            new_link(info, dict(DEFAULT_POLICY)),
            pbx_password=info["pbx_tenant_admin_password"],
            client_secret=info["client_secret"],
        )
        link = await check_link(db, link.id, Settings(database=tmp_path / "m365sync.db"))
        assert link.state.value == "active", link.state_reason
    finally:
        await db.close()
    return key


@pytest.fixture
async def daemon(
    tmp_path: Path, emus: RunningEmulators, tls_files: tuple[Path, Path, Path]
) -> AsyncIterator[Daemon]:
    cert, key_path, ca_path = tls_files
    # Graph trusts public CAs only; the emulator is told to trust the test CA as well.
    emus.graph.trust_notification_ca(str(ca_path))
    secret_key = await _prepare_store(tmp_path, emus)
    port = _free_port()
    url = f"https://127.0.0.1:{port}"
    env = {
        **os.environ,
        "M365SYNC_DATA_DIR": str(tmp_path),
        "M365SYNC_DATABASE": str(tmp_path / "m365sync.db"),
        "M365SYNC_SECRET_KEY": secret_key,
        "M365SYNC_LISTEN": f"127.0.0.1:{port}",
        "M365SYNC_PUBLIC_URL": url,
        "M365SYNC_TLS_CERT": str(cert),
        "M365SYNC_TLS_KEY": str(key_path),
        "M365SYNC_LOG_FORMAT": "json",
    }
    env.pop("PORT", None)
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log_file:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            "import sys; from worker.cli import main; sys.exit(main())",
            "serve",
            env=env,
            stdout=log_file,
            stderr=log_file,
        )
    served = Daemon(proc, log_path, url)
    yield served
    if proc.returncode is None:
        proc.terminate()
        await proc.wait()


@pytest.mark.slow
async def test_graph_handshakes_and_delivers_over_https(
    daemon: Daemon, emus: RunningEmulators, tls_files: tuple[Path, Path, Path]
) -> None:
    """The daemon serves TLS with the given certificate; Graph's validation handshake and a
    change notification reach it over HTTPS, and the new user gets an extension."""
    _, _, ca_path = tls_files
    context = ssl.create_default_context(cafile=str(ca_path))
    await eventually(lambda: _answers(daemon), "the daemon should start")
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context)) as session:
        await _wait_healthy(session, daemon)
        async with session.get(f"{daemon.url}/healthz") as response:
            assert response.status == 200
            assert response.url.scheme == "https"

    subscriptions: Any = emus.graph.context.subscriptions
    await eventually(lambda: bool(subscriptions.all()), "a subscription should be created")
    (subscription,) = subscriptions.all()
    assert subscription.notification_url == f"{daemon.url}/graph/notifications"

    emus.graph.directory.create_user(
        displayName="Ann Lee",
        givenName="Ann",
        surname="Lee",
        mail="ann.lee@contoso.example",
        userPrincipalName="ann.lee@contoso.example",
        accountEnabled=True,
        userType="Member",
    )
    await emus.graph.delivery_idle()
    assert emus.graph.delivery.counters.delivered >= 1, daemon.output()
    await eventually(lambda: emus.pbx.state.get("200") is not None, "an extension")
    extension = emus.pbx.state.get("200")
    assert extension is not None
    assert dict(extension.settings)["email_address"] == "ann.lee@contoso.example"


def _answers(daemon: Daemon) -> bool:
    if daemon.proc.returncode is not None:
        raise AssertionError(f"m365sync serve exited:\n{daemon.output()}")
    host, port = daemon.url.removeprefix("https://").split(":")
    try:
        with socket.create_connection((host, int(port)), timeout=1.0):
            return True
    except OSError:
        return False


async def _wait_healthy(session: aiohttp.ClientSession, daemon: Daemon) -> None:
    plain = aiohttp.ClientTimeout(total=5)
    async with session.get(f"{daemon.url}/readyz", timeout=plain) as response:
        assert response.status == 200, await response.text()
