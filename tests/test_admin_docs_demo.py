"""The API is documented route for route, and `m365sync demo` starts, serves and stops."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import sys
from pathlib import Path

import aiohttp

from cli.app import create_daemon_app
from worker.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


def test_every_api_route_is_in_openapi() -> None:
    """Each /api route of the app has a path entry in docs/openapi.yaml, and no more."""
    text = (ROOT / "docs" / "openapi.yaml").read_text(encoding="utf-8")
    documented = set(re.findall(r"^  (/api/\S+):$", text, re.MULTILINE))
    served = set()
    apps = [create_daemon_app(Settings(), db=None)]
    while apps:
        for resource in apps.pop().router.resources():
            info = resource.get_info()
            if "app" in info:  # a mounted application (the admin console)
                apps.append(info["app"])
            path = str(info.get("formatter") or info.get("path") or "")
            if path.startswith("/api/"):
                served.add(path)
    assert served == documented


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_demo_starts_prints_sign_in_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    """The demo serves the admin page, prints how to sign in, writes only ./data/demo, and
    Ctrl-C ends it."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("M365SYNC_")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "cli.cli",
        "demo",
        "--port",
        str(port),
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(ROOT)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    assert proc.stdout is not None
    banner = ""
    try:
        while "What to try" not in banner:
            line = await asyncio.wait_for(proc.stdout.readline(), timeout=30)
            assert line, "the demo exited early"
            banner += line.decode()
        assert f"http://127.0.0.1:{port}/links" in banner
        assert "admin@" in banner and "/console" in banner
        url = f"http://127.0.0.1:{port}/links"
        async with aiohttp.ClientSession() as http, http.get(url, allow_redirects=False) as page:
            assert page.status == 303
    finally:
        proc.send_signal(signal.SIGINT)
        code = await asyncio.wait_for(proc.wait(), timeout=20)
    assert code in (0, 130)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]
    assert [p.name for p in (tmp_path / "data").iterdir()] == ["demo"]
