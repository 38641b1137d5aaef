"""A daemon killed with SIGKILL in the middle of a round and restarted at once, as systemd
does: seconds from the restart until the new process works the link again (it claims the
dead process's events), with the default 120 s lease and 2 s poll. Several runs.
Run: python -m bench.restart
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from aiohttp.test_utils import TestServer

from bench.stack import user
from cli.commands.demo import add_emulator_link
from emulators.harness import RunningEmulators, running_emulators
from store import Database, SecretBox, generate_key
from webhook.app import create_app
from worker.engine import build_engine
from worker.linkadmin import check_link
from worker.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
RUNS = 5
USERS = 30


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def _serve(db_path: Path, key: str) -> asyncio.subprocess.Process:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("M365SYNC_", "PORT"))}
    env.update(
        M365SYNC_DATABASE=str(db_path),
        M365SYNC_DATA_DIR=str(db_path.parent),
        M365SYNC_SECRET_KEY=key,
        M365SYNC_LOG_FORMAT="json",
        M365SYNC_LISTEN=f"127.0.0.1:{_free_port()}",
    )
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "cli.cli", "serve", env=env, cwd=ROOT,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip


async def _one_run(emus: RunningEmulators, db: Database, key: str, run: int) -> float:
    state = emus.pbx.state
    start = len(state.extensions())
    for n in range(USERS):
        emus.graph.directory.create_user(**user(run * 1000 + n, prefix=f"restart{run}-"))
    await emus.graph.delivery_idle()
    first = await _serve(db.path, key)
    # Polling the emulator and the database is the measurement itself.
    while len(state.extensions()) < start + 3:  # noqa: ASYNC110
        await asyncio.sleep(0.01)
    first.send_signal(signal.SIGKILL)
    await first.wait()
    restarted = time.perf_counter()
    second = await _serve(db.path, key)
    mine = f"{socket.gethostname()}:{second.pid}:%"
    while not await db.fetchone("SELECT 1 FROM events WHERE claimed_by LIKE ?", (mine,)):  # noqa: ASYNC110
        await asyncio.sleep(0.01)
    resumed = time.perf_counter() - restarted
    while len(state.extensions()) < start + USERS:  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    second.send_signal(signal.SIGTERM)
    await second.wait()
    return resumed


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp)
        async with running_emulators(path / "emu", pbx_latency_s=0.03) as emus:
            emus.graph.identity.grant_admin_consent(emus.info["client_id"])
            key = generate_key()
            db = await Database.open(path / "m365sync.db", SecretBox([key.encode()]))
            settings = Settings(data_dir=path, database=path / "m365sync.db")
            # Notifications land in the database through this app; only the killed and
            # restarted daemons work them.
            server = TestServer(create_app(settings, db=db), host="127.0.0.1")
            await server.start_server()
            try:
                link = await add_emulator_link(
                    db,
                    emus.info,
                    name="bench",
                    settings={"auto_create": True, "ranges": "1000-9999"},
                )
                await check_link(db, link.id, settings)
                # Subscribe once, in this process (the daemons have no public URL).
                public = replace(settings, public_url=str(server.make_url("")).rstrip("/"))
                engine = build_engine(db, public)
                await engine.run_until_idle(maintain=True)
                await emus.graph.delivery_idle()
                await engine.run_until_idle()
                await engine.shutdown()
                times = [await _one_run(emus, db, key, run) for run in range(RUNS)]
            finally:
                await server.close()
                await db.close()
    print(
        f"restart benchmark: `serve` killed with SIGKILL mid-round, restarted at once ({RUNS} runs)"
    )
    print("  lease 120 s, poll 2 s (defaults); resume = the new process claims the events")
    print("  restart to resume: " + ", ".join(f"{t:.2f}" for t in times) + " s")
    print(f"  median {statistics.median(times):.2f} s, max {max(times):.2f} s")


if __name__ == "__main__":
    asyncio.run(main())
