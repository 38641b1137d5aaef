"""The emulator harness (both emulators at once) and the `emulate` entry point."""

from __future__ import annotations

import asyncio
import json
import signal
import stat
import sys
from pathlib import Path

import aiohttp

from emulators.harness import running_emulators
from emulators.main import build_parser
from emulators.tls import client_context
from worker.vodia import VodiaClient

INFO_KEYS = {
    "graph_url", "authority_url", "tenant_id", "tenant_domain", "client_id", "client_secret",
    "admin_upn", "ca_path", "pbx_url", "pbx_domain", "pbx_admin", "pbx_admin_password",
    "pbx_tenant_admin", "pbx_tenant_admin_password", "graph_control_url", "pbx_control_url",
}  # fmt: skip


async def test_running_emulators_serves_both_and_writes_info(tmp_path: Path) -> None:
    """Both emulators answer, seeded as asked, and emulator.json matches .info (mode 0600)."""
    async with running_emulators(tmp_path, users=5, extensions=7, seed=3) as emus:
        info = emus.info
        assert set(info) >= INFO_KEYS
        written = json.loads((tmp_path / "emulator.json").read_text())
        assert written == info
        assert stat.S_IMODE((tmp_path / "emulator.json").stat().st_mode) == 0o600
        connector = aiohttp.TCPConnector(ssl=client_context(info["ca_path"]))
        async with aiohttp.ClientSession(connector=connector) as session:
            url = f"{info['authority']}/v2.0/.well-known/openid-configuration"
            async with session.get(url) as response:
                assert response.status == 200
        async with VodiaClient(
            info["pbx_url"],
            info["pbx_domain"],
            info["pbx_tenant_admin"],
            info["pbx_tenant_admin_password"],
        ) as client:
            extensions = await client.list_extensions()
        assert len(extensions) == 7
        emails = [e.email for e in extensions if e.email]
        assert all(email.endswith(f"@{info['tenant_domain']}") for email in emails)


def test_emulate_parser_accepts_the_documented_options() -> None:
    """The emulate options parse into the harness's arguments."""
    args = build_parser().parse_args(
        ["--state-dir", "x", "--graph-port", "0", "--pbx-port", "0", "--users", "3",
         "--extensions", "4", "--seed", "9", "--pbx-latency-ms", "20"]
    )  # fmt: skip
    assert (args.state_dir, args.users, args.extensions, args.seed) == (Path("x"), 3, 4, 9)
    assert args.pbx_latency_ms == 20


async def test_emulate_prints_info_and_stops_on_sigterm(tmp_path: Path) -> None:
    """`python -m emulators.main` prints one JSON line, then exits 0 on SIGTERM."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "emulators.main", "--state-dir", str(tmp_path),
        "--extensions", "3", stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), timeout=30)
    info = json.loads(line)
    assert info == json.loads((tmp_path / "emulator.json").read_text())
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{info['pbx_url']}/rest/system/session") as response,
    ):
        assert response.status == 200
    process.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(process.wait(), timeout=30) == 0
