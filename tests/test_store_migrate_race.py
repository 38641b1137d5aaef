"""Two instances starting at once on an empty database migrate it exactly once: each step
is applied by one process (PostgreSQL: under the advisory lock; SQLite: under BEGIN
IMMEDIATE), the other finds it done, and neither fails."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from store.migrations import MIGRATIONS

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def backend(both_backends: str) -> str:
    return both_backends


@pytest.mark.parametrize("round_", range(3))
def test_two_processes_on_an_empty_database_apply_each_migration_once(
    store_location: Path | str, round_: int
) -> None:
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.procs.migrator", str(store_location)],
            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )
        for _ in range(2)
    ]  # fmt: skip
    for proc in procs:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
    for proc in procs:  # both start migrating together
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    outputs = [proc.communicate(timeout=60) for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0], outputs
    applied = Counter(name for out, _ in outputs for name in json.loads(out.splitlines()[-1]))
    assert applied == Counter(name for name, _ in MIGRATIONS)
