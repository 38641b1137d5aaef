"""The command line on PostgreSQL: M365SYNC_DATABASE_URL is what every command opens (no
SQLite file appears), and the URL's password is never in the output or the logs."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import aiohttp

from store import SecretBox, generate_key, open_database
from store.admins import get_admin_account
from tests.waiting import until

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "hunter2-not-logged"


def _env(data_dir: Path, url: str, key: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("M365SYNC_", "PORT"))}
    env.update(
        M365SYNC_DATA_DIR=str(data_dir),
        M365SYNC_DATABASE_URL=url,
        M365SYNC_SECRET_KEY=key,
        M365SYNC_LOG_FORMAT="json",
        **extra,
    )
    return env


def _with_password(url: str) -> str:
    scheme, rest = url.split("://", 1)
    user, host = rest.split("@", 1)
    return f"{scheme}://{user}:{PASSWORD}@{host}"


async def test_commands_and_the_daemon_use_the_database_url(pg_url: str, tmp_path: Path) -> None:
    key = generate_key()
    url = _with_password(pg_url)
    done = subprocess.run(
        [sys.executable, "-m", "cli.cli", "admin", "set-password", "--user", "ops"],
        env=_env(tmp_path, url, key, M365SYNC_ADMIN_PASSWORD="a long enough password"),
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    serve = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "cli.cli", "serve",
        env=_env(tmp_path, url, key, M365SYNC_LISTEN=f"127.0.0.1:{port}"),
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip

    async def ready() -> bool:
        try:
            async with (
                aiohttp.ClientSession() as http,
                http.get(f"http://127.0.0.1:{port}/readyz") as answer,
            ):
                return answer.status == 200
        except aiohttp.ClientConnectionError:
            return False

    try:
        await until(ready, "serve ready on PostgreSQL", 60)
    finally:
        serve.send_signal(signal.SIGTERM)
        output, _ = await asyncio.wait_for(serve.communicate(), 30)
    assert serve.returncode == 0
    logs = output.decode() + done.stdout + done.stderr
    assert PASSWORD not in logs
    assert ":***@127.0.0.1" in logs  # daemon.listening names the database, without it
    assert not list(tmp_path.glob("*.db*")), "no SQLite file next to a PostgreSQL URL"
    db = await open_database(pg_url, SecretBox([key.encode()]))
    try:
        account = await get_admin_account(db)
    finally:
        await db.close()
    assert account is not None and account.username == "ops"
