"""HTTPS serving: `m365sync serve` with M365SYNC_TLS_CERT/KEY (a trustme certificate) in
its own process; the Graph emulator validates the subscription over TLS and delivers a
change notification that ends as an extension on the PBX."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sqlite3
import ssl
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import trustme

from cli.commands.demo import add_emulator_link
from emulators.harness import RunningEmulators, running_emulators
from store import Database, SecretBox, generate_key
from tests.plugins.pipeline import DEFAULT_POLICY
from worker.linkadmin import check_link
from worker.settings import Settings

WAIT_S = 30.0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def eventually(check: Callable[[], bool], what: str, daemon: Daemon) -> None:
    """Poll a condition that another process makes true (no event crosses processes)."""
    try:
        async with asyncio.timeout(WAIT_S):
            while not check():  # noqa: ASYNC110 - the condition lives in another process
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise AssertionError(f"timed out waiting: {what}\n{daemon.output()}") from None


def _stored_subscriptions(db_path: Path) -> int:
    """Subscriptions the daemon has committed (read with a separate connection)."""
    with contextlib.closing(sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)) as conn:
        (count,) = conn.execute("SELECT count(*) FROM subscriptions").fetchone()
    return int(count)


class Daemon:
    def __init__(
        self, proc: asyncio.subprocess.Process, log_path: Path, url: str, db_path: Path
    ) -> None:
        self.proc, self.log_path, self.url, self.db_path = proc, log_path, url, db_path

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
        link = await add_emulator_link(db, info, name="contoso", settings=dict(DEFAULT_POLICY))
        link = await check_link(db, link.id, Settings(database=tmp_path / "m365sync.db"))
        assert link.state.value == "active", link.state_reason
    finally:
        await db.close()
    return key


async def _spawn(tmp_path: Path, env: dict[str, str], attempt: int) -> Daemon:
    """Start `m365sync serve` on a free port and wait until it accepts connections."""
    port = _free_port()
    url = f"https://127.0.0.1:{port}"
    env = {**env, "M365SYNC_LISTEN": f"127.0.0.1:{port}", "M365SYNC_PUBLIC_URL": url}
    log_path = tmp_path / f"serve-{attempt}.log"
    with log_path.open("wb") as log_file:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            "import sys; from cli.cli import main; sys.exit(main())",
            "serve",
            env=env,
            stdout=log_file,
            stderr=log_file,
        )
    daemon = Daemon(proc, log_path, url, tmp_path / "m365sync.db")
    await eventually(lambda: _answers(daemon), "the daemon should start", daemon)
    return daemon


@pytest.fixture
async def daemon(
    tmp_path: Path, emus: RunningEmulators, tls_files: tuple[Path, Path, Path]
) -> AsyncIterator[Daemon]:
    cert, key_path, ca_path = tls_files
    # Graph trusts public CAs only; the emulator is told to trust the test CA as well.
    emus.graph.trust_notification_ca(str(ca_path))
    env = {
        **os.environ,
        "M365SYNC_DATA_DIR": str(tmp_path),
        "M365SYNC_DATABASE": str(tmp_path / "m365sync.db"),
        "M365SYNC_SECRET_KEY": await _prepare_store(tmp_path, emus),
        "M365SYNC_TLS_CERT": str(cert),
        "M365SYNC_TLS_KEY": str(key_path),
        "M365SYNC_LOG_FORMAT": "json",
    }
    env.pop("PORT", None)
    for attempt in range(3):
        try:
            served = await _spawn(tmp_path, env, attempt)
            break
        except PortTaken:
            continue  # another process took the free port between probe and bind
    else:
        raise AssertionError("no free port for m365sync serve after 3 attempts")
    yield served
    if served.proc.returncode is None:
        served.proc.terminate()
        await served.proc.wait()


@pytest.mark.slow
async def test_graph_handshakes_and_delivers_over_https(
    daemon: Daemon, emus: RunningEmulators, tls_files: tuple[Path, Path, Path]
) -> None:
    """The daemon serves TLS with the given certificate; Graph's validation handshake and a
    change notification reach it over HTTPS, and the new user gets an extension."""
    _, _, ca_path = tls_files
    context = ssl.create_default_context(cafile=str(ca_path))
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context)) as session:
        await _wait_healthy(session, daemon)
        async with session.get(f"{daemon.url}/healthz") as response:
            assert response.status == 200
            assert response.url.scheme == "https"

    subscriptions: Any = emus.graph.context.subscriptions
    # Graph answers 201 before the daemon commits the subscription; a change in between
    # would be caught by the catch-up round, not by a notification. Wait for both.
    await eventually(lambda: bool(subscriptions.all()), "a subscription in Graph", daemon)
    await eventually(
        lambda: _stored_subscriptions(daemon.db_path) == 1, "a stored subscription", daemon
    )
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
    # The extension appears with Vodia's addacc and gets its fields in a second request.
    await eventually(
        lambda: _email_of(emus, "200") == "ann.lee@contoso.example", "an extension", daemon
    )


class PortTaken(Exception):
    """The daemon could not bind its port."""


def _answers(daemon: Daemon) -> bool:
    if daemon.proc.returncode is not None:
        output = daemon.output()
        if "address already in use" in output.lower():
            raise PortTaken(output)
        raise AssertionError(f"m365sync serve exited:\n{output}")
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


def _email_of(emus: RunningEmulators, number: str) -> str | None:
    extension = emus.pbx.state.get(number)
    return None if extension is None else dict(extension.settings).get("email_address")
