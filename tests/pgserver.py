"""A throw-away PostgreSQL server for the tests and the store benchmark.

Debian's `postgresql` package (initdb, pg_ctl) in a temporary directory, on a free
loopback port, with its unix socket in that directory too. PostgreSQL refuses to run as
root, so when we are root the cluster belongs to an unprivileged user (`nobody`) and the
binaries run under it; otherwise it runs as ourselves.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

PG_BIN_DIRS = tuple(
    sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: p.parent.name, reverse=True)
)
RUN_AS = "nobody"


class PostgresMissing(RuntimeError):
    """initdb/pg_ctl are not installed (`make test` installs Debian's postgresql)."""


def find_bin_dir() -> Path:
    for candidate in PG_BIN_DIRS:
        if (candidate / "initdb").exists() and (candidate / "pg_ctl").exists():
            return candidate
    on_path = shutil.which("pg_ctl")
    if on_path and shutil.which("initdb"):
        return Path(on_path).parent
    raise PostgresMissing("PostgreSQL is not installed; run: sudo apt-get install -y postgresql")


@dataclass(frozen=True)
class PgServer:
    """A running server; `url(name)` is the URL of one database on it."""

    port: int
    socket_dir: Path
    user: str

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _demoter() -> tuple[Callable[[], None] | None, str, int, int]:
    if os.geteuid() != 0:
        me = pwd.getpwuid(os.geteuid())
        return None, me.pw_name, me.pw_uid, me.pw_gid
    entry = pwd.getpwnam(RUN_AS)

    def demote() -> None:
        os.setgid(entry.pw_gid)
        os.setgroups([])
        os.setuid(entry.pw_uid)

    return demote, entry.pw_name, entry.pw_uid, entry.pw_gid


@contextmanager
def running_server() -> Iterator[PgServer]:
    """Start a fresh cluster; stop it and remove its files on exit."""
    bin_dir = find_bin_dir()
    demote, user, uid, gid = _demoter()
    root = Path(tempfile.mkdtemp(prefix="m365sync-pg-"))
    os.chown(root, uid, gid)
    data, sockets = root / "data", root / "sockets"
    sockets.mkdir()
    os.chown(sockets, uid, gid)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "HOME": str(root)}
    run = {"preexec_fn": demote, "env": env, "cwd": root, "check": True, "capture_output": True}
    try:
        # Trust on loopback and the private socket only: a test server with no secret.
        subprocess.run(
            [str(bin_dir / "initdb"), "-D", str(data), "-U", user, "-A", "trust", "-E", "UTF8"],
            **run,  # type: ignore[call-overload]
        )
        port = _free_port()
        options = (
            f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=on"
            " -c max_connections=200 -c shared_buffers=64MB"
        )
        subprocess.run(
            [
                str(bin_dir / "pg_ctl"),
                "-D",
                str(data),
                "-o",
                options,
                "-w",
                "-t",
                "60",
                "-l",
                str(root / "server.log"),
                "start",
            ],
            **run,  # type: ignore[call-overload]
        )
        try:
            yield PgServer(port=port, socket_dir=sockets, user=user)
        finally:
            subprocess.run(
                [str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
                **{**run, "check": False},  # type: ignore[call-overload]
            )
    finally:
        shutil.rmtree(root, ignore_errors=True)
