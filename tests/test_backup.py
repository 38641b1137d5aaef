"""`m365sync backup` in its own process while the real webhook stores a burst of
notifications: the copy restores to a consistent database."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sqlite3
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

from cli.app import create_daemon_app
from store import Database, SecretBox
from store.events import list_events
from store.migrations import MIGRATIONS
from store.models import Link, Subscription
from store.subscriptions import client_state_hash, put_subscription
from worker.settings import Settings

SUB_ID = "9a8b7c6d-5e4f-4a3b-2c1d-0e9f8a7b6c5d"
CLIENT_STATE = "burst-client-state"
TENANT_ID = "7f3c2a10-5b1e-4c7d-9a2e-0d4b6c8e1f20"
ITEMS_PER_POST = 5


def _post_body() -> dict[str, Any]:
    items = []
    for _ in range(ITEMS_PER_POST):
        user_id = str(uuid.uuid4())
        items.append(
            {
                "subscriptionId": SUB_ID,
                "clientState": CLIENT_STATE,
                "changeType": "updated",
                "tenantId": TENANT_ID,
                "resource": f"Users/{user_id}",
                "resourceData": {"id": user_id},
            }
        )
    return {"value": items}


async def _m365sync(tmp_path: Path, secret_key: str, *args: str) -> tuple[int, str]:
    env = {
        **os.environ,
        "M365SYNC_DATA_DIR": str(tmp_path),
        "M365SYNC_DATABASE": str(tmp_path / "m365sync.db"),
        "M365SYNC_SECRET_KEY": secret_key,
        "M365SYNC_LOG_FORMAT": "json",
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "import sys; from cli.cli import main; sys.exit(main())",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await proc.communicate()
    return proc.returncode or 0, out.decode()


class Burst:
    """Posts batches of notifications through the real webhook until stopped."""

    def __init__(self, client: TestClient[Any, Any]) -> None:
        self.client = client
        self.posts = 0
        self.stopped = False
        self._progress = asyncio.Condition()

    async def run(self) -> None:
        while not self.stopped:
            response = await self.client.post("/graph/notifications", json=_post_body())
            assert response.status == 202
            async with self._progress:
                self.posts += 1
                self._progress.notify_all()

    async def wait_for(self, posts: int) -> None:
        async with self._progress:
            await self._progress.wait_for(lambda: self.posts >= posts)


def _whole(row: sqlite3.Row) -> bool:
    payload = json.loads(row["payload"])
    return (
        row["kind"] == "notification"
        and row["status"] == "pending"
        and uuid.UUID(row["user_id"]) is not None
        and payload == {"changeType": "updated", "subscriptionId": SUB_ID}
        and row["due_at"] > 0
        and row["created_at"] > 0
    )


async def test_backup_during_a_notification_burst_restores_consistently(
    aiohttp_client: Any, db: Database, link: Link, tmp_path: Path, secret_key: str
) -> None:
    """Backed up mid-burst, the copy passes integrity_check, holds whole POSTs only (every
    event row complete), has every migration, and opens with the daemon's key."""
    await put_subscription(
        db,
        Subscription(
            id=SUB_ID,
            link_id=link.id,
            resource="users",
            client_state_hash=client_state_hash(CLIENT_STATE),
            expires_at=time.time() + 3600,
        ),
    )
    burst = Burst(await aiohttp_client(create_daemon_app(Settings(), db=db)))
    running = asyncio.create_task(burst.run())
    await burst.wait_for(20)
    stored_before = burst.posts * ITEMS_PER_POST
    target = tmp_path / "backups" / "m365sync-backup.db"
    target.parent.mkdir()
    status, output = await _m365sync(tmp_path, secret_key, "backup", str(target))
    await burst.wait_for(burst.posts + 5)
    burst.stopped = True
    await running
    assert status == 0, output
    assert "backup written" in output

    restored = tmp_path / "restored.db"
    shutil.copyfile(target, restored)
    assert not Path(f"{target}-wal").exists(), "the backup should be one self-contained file"
    conn = sqlite3.connect(restored)
    conn.row_factory = sqlite3.Row
    assert [r[0] for r in conn.execute("PRAGMA integrity_check")] == ["ok"]
    assert [r[0] for r in conn.execute("SELECT name FROM migrations ORDER BY rowid")] == [
        name for name, _ in MIGRATIONS
    ]
    rows = list(conn.execute("SELECT * FROM events ORDER BY id"))
    conn.close()
    assert stored_before <= len(rows) < burst.posts * ITEMS_PER_POST
    assert len(rows) % ITEMS_PER_POST == 0, "each POST is stored in one transaction"
    assert [r["id"] for r in rows] == list(range(1, len(rows) + 1))
    assert all(_whole(r) for r in rows)

    copy = await Database.open(restored, SecretBox([secret_key.encode()]))
    try:
        assert len(await list_events(copy, link.id, limit=100_000)) == len(rows)
    finally:
        await copy.close()


async def test_backup_refuses_to_overwrite_without_force(
    db: Database, tmp_path: Path, secret_key: str
) -> None:
    """An existing PATH is kept (exit 2) unless --force is given."""
    target = tmp_path / "existing.db"
    target.write_bytes(b"keep me")
    status, output = await _m365sync(tmp_path, secret_key, "backup", str(target))
    assert status == 2, output
    assert target.read_bytes() == b"keep me"
    status, output = await _m365sync(tmp_path, secret_key, "backup", "--force", str(target))
    assert status == 0, output
    assert target.read_bytes().startswith(b"SQLite format 3\x00")
