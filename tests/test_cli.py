"""The command line as a user runs it: real processes, real ports."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("M365SYNC_", "PORT"))}
    env.update({"M365SYNC_DATA_DIR": str(tmp_path / "data"), **extra})
    return env


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _m365sync(*args: str) -> list[str]:
    return [sys.executable, "-m", "cli.cli", *args]


def test_bad_setting_exits_2_with_one_line(tmp_path: Path) -> None:
    """A bad environment value stops the program with one clear line and status 2, no traceback."""
    result = subprocess.run(
        _m365sync("serve"),
        env=_env(tmp_path, M365SYNC_LISTEN="nowhere"),
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "M365SYNC_LISTEN='nowhere'" in lines[0]
    assert "Traceback" not in result.stderr


def test_wrong_secret_key_exits_2_with_one_line(tmp_path: Path) -> None:
    """Starting on a database written with another key fails with one line naming the setting."""
    from store.crypto import generate_key

    port = _free_port()
    env = _env(tmp_path, M365SYNC_SECRET_KEY=generate_key(), M365SYNC_LISTEN=f"127.0.0.1:{port}")
    first = subprocess.Popen(_m365sync("serve"), env=env, cwd=ROOT, stderr=subprocess.PIPE)
    _wait_healthy(port)
    first.send_signal(signal.SIGINT)
    first.communicate(timeout=30)
    env["M365SYNC_SECRET_KEY"] = generate_key()
    result = subprocess.run(
        _m365sync("serve"), env=env, capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert result.returncode == 2
    assert "M365SYNC_SECRET_KEY" in result.stderr
    assert "Traceback" not in result.stderr


def _wait_healthy(port: int, timeout_s: float = 30.0) -> bytes:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as resp:
                assert resp.status == 200
                return bytes(resp.read())
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def test_serve_answers_healthz_and_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    """`m365sync serve` serves /healthz, creates its database, and exits 0 on SIGINT."""
    port = _free_port()
    proc = subprocess.Popen(
        _m365sync("serve"),
        env=_env(tmp_path, M365SYNC_LISTEN=f"127.0.0.1:{port}", M365SYNC_LOG_FORMAT="json"),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert b'"ok"' in _wait_healthy(port)
    finally:
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr
    assert (tmp_path / "data" / "m365sync.db").exists()
    assert "Traceback" not in stderr
    assert '"event": "daemon.stopped"' in stderr


def test_keygen_prints_a_usable_key(tmp_path: Path) -> None:
    """`m365sync keygen` prints a key that M365SYNC_SECRET_KEY accepts."""
    from store.crypto import SecretBox

    result = subprocess.run(
        _m365sync("keygen"), env=_env(tmp_path), capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0
    SecretBox([result.stdout.strip().encode()])
