"""`m365sync approve` as an operator runs it: real processes, the emulators, a real database.
It lists what it will do and asks on a terminal, `--yes` for scripts, `--id` for one."""

from __future__ import annotations

import asyncio
import os
import pty
import sys
from pathlib import Path
from typing import Any

import pytest

from emulators.harness import RunningEmulators, running_emulators
from tests.test_cli_links import ROOT, _add, _env, m365sync

# seed 7 with 12 users: resync links or creates all 12 on 200-299
SETTINGS = ("disable_threshold_count=1", "disable_threshold_percent=0")
pytestmark = pytest.mark.slow  # a dozen processes each


@pytest.fixture
async def emus(tmp_path: Path) -> Any:
    async with running_emulators(tmp_path / "emu", users=12, extensions=6, seed=7) as running:
        running.graph.identity.grant_admin_consent(running.info["client_id"])
        yield running


async def on_a_terminal(env: dict[str, str], answer: str, *args: str) -> tuple[int, str, str]:
    """Run with stdin on a pseudo-terminal and type `answer` there."""
    main, child = pty.openpty()
    try:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "cli.cli", *args,
            env=env, cwd=ROOT, stdin=child,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        os.write(main, f"{answer}\n".encode())
        out, err = await asyncio.wait_for(proc.communicate(), 90)
    finally:
        os.close(child)
        os.close(main)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def _disabled(emus: RunningEmulators, numbers: list[str]) -> list[str]:
    return [n for n in numbers if emus.pbx.state.get(n).settings["disabled"] == "true"]


async def _three_held(emus: RunningEmulators, env: dict[str, str]) -> list[tuple[str, str]]:
    """Three soft-deleted users over a threshold of 1: (held id, number) for each."""
    assert (await _add(env, emus.info))[0] == 0
    assert (await m365sync(env, "resync"))[0] == 0
    assert (await m365sync(env, "link", "set", "contoso", *SETTINGS))[0] == 0
    directory = emus.graph.directory
    leaving = directory.active_ids()[:3]
    for user_id in leaving:
        directory.soft_delete_user(user_id)
    code, _, err = await m365sync(env, "resync")
    assert code == 0, err
    code, out, err = await m365sync(env, "approve", "contoso", "--list")
    assert code == 0, err
    rows = [line.split() for line in out.splitlines()[2:]]
    assert len(rows) == 3 and all(row[1] == "disable" for row in rows), out
    return [(row[0], row[2]) for row in rows]


async def test_approve_asks_first_and_without_a_terminal_needs_yes(
    emus: RunningEmulators, tmp_path: Path
) -> None:
    """No terminal, no --yes: nothing is applied, exit 2. On a terminal it lists what it will
    do and asks: "n" applies nothing, "y" with --id applies that one only."""
    env = _env(tmp_path, emus.info)
    held = await _three_held(emus, env)
    numbers = [number for _, number in held]

    code, out, err = await m365sync(env, "approve", "contoso")
    assert code == 2
    assert "--yes" in err and "Traceback" not in err
    assert all(number in out for number in numbers), "it should list what it would do"
    assert _disabled(emus, numbers) == []

    code, out, _ = await on_a_terminal(env, "n", "approve", "contoso")
    assert code == 2
    assert "Carry out these 3 held action(s)? [y/N]" in out
    assert _disabled(emus, numbers) == []

    first_id, first_number = held[0]
    code, out, err = await on_a_terminal(env, "y", "approve", "contoso", "--id", first_id)
    assert code == 0, err
    assert "Carry out these 1 held action(s)?" in out
    assert _disabled(emus, numbers) == [first_number]
    code, out, _ = await m365sync(env, "approve", "contoso", "--list")
    assert sorted(line.split()[2] for line in out.splitlines()[2:]) == sorted(numbers[1:])

    code, _, err = await m365sync(env, "approve", "contoso", "--id", first_id, "--yes")
    assert code == 2 and "nothing held with id" in err


async def test_approve_yes_applies_every_held_disable_once(
    emus: RunningEmulators, tmp_path: Path
) -> None:
    """`--yes` (for scripts) approves all; one disabled by hand meanwhile is only recorded;
    a second `approve --yes` finds nothing left."""
    env = _env(tmp_path, emus.info)
    held = await _three_held(emus, env)
    numbers = [number for _, number in held]
    emus.pbx.state.get(numbers[1]).settings["disabled"] = "true"
    code, out, err = await m365sync(env, "approve", "contoso", "--yes")
    assert code == 0, err
    assert "3 applied, 0 failed" in out
    assert _disabled(emus, numbers) == numbers
    code, out, _ = await m365sync(env, "approve", "contoso", "--yes")
    assert code == 0 and "nothing is held for approval" in out
