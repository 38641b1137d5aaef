"""`m365sync doctor` as a user runs it: a real process on the real database, exit 0 when
every check passes, 1 when one fails, 2 for a usage error; --json for machines."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

from store.links import set_secret
from tests.plugins.doctor import DoctorEnv
from worker.linkctx import PBX_PASSWORD

ROOT = Path(__file__).resolve().parent.parent


def _env(doctor_env: DoctorEnv) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("M365SYNC_", "PORT"))}
    env.update(
        M365SYNC_DATA_DIR=str(doctor_env.db_path.parent),
        M365SYNC_DATABASE=str(doctor_env.db_path),
        M365SYNC_SECRET_KEY=doctor_env.secret_key,
        M365SYNC_PUBLIC_URL=str(doctor_env.settings.public_url),
        M365SYNC_LOG_FORMAT="json",
        M365SYNC_LOG_LEVEL="warning",
        # The child's *system* trust store (OpenSSL's own variable) holds the webhook's test
        # CA, the way a real host's store holds the public CA of a real certificate.
        SSL_CERT_FILE=str(doctor_env.webhook_ca.ca_path),
    )
    return env


async def m365sync(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "cli.cli",
        *args,
        env=env,
        cwd=ROOT,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 90)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_doctor_exit_codes_and_json(doctor_env: DoctorEnv) -> None:
    env = _env(doctor_env)
    code, out, err = await m365sync(env, "doctor", "contoso")
    assert code == 0, out + err
    lines = out.splitlines()
    assert lines[0] == "contoso (application mode)"
    assert len(lines) == 19 and all(line.startswith("  ✓ ") for line in lines[1:]), out

    code, out, _ = await m365sync(env, "doctor", "contoso", "--json")
    assert code == 0
    (report,) = json.loads(out)
    assert report["link"] == "contoso" and report["ok"] is True
    assert all(check["ok"] and check["fix"] == "" for check in report["checks"])

    await set_secret(doctor_env.db, doctor_env.link.id, PBX_PASSWORD, "wrong-password")
    code, out, _ = await m365sync(env, "doctor", "--json")  # every link
    assert code == 1
    (report,) = json.loads(out)
    by_id = {check["id"]: check for check in report["checks"]}
    assert report["ok"] is False and by_id["pbx_credentials"]["ok"] is False
    assert "--pbx-password" in by_id["pbx_credentials"]["fix"]

    code, out, _ = await m365sync(env, "doctor", "contoso")
    assert code == 1
    assert "  ✗ PBX accepts the administrator credentials" in out
    assert "      fix: The PBX refused" in out

    code, out, err = await m365sync(env, "doctor", "nosuch")
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and "nosuch" in err
