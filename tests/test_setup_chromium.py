"""`make test` on a machine without Chromium: .ci/ensure-chromium installs Debian's
package when it runs as root with apt-get, else stops `make test` with one line.

Run with a PATH that holds only bash, make, a fake `id` and a fake `apt-get` (which
records its arguments and "installs" a chromium stub), so the real one is hidden.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / ".ci" / "ensure-chromium"
HINT = (
    "make test needs Chromium for the browser tests; run: "
    "sudo apt-get update && sudo apt-get install -y chromium"
)


def _bin(tmp_path: Path, *, uid: int, apt: bool = True) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("bash", "make"):
        found = shutil.which(tool)
        assert found
        (bin_dir / tool).symlink_to(found)
    _script(bin_dir / "id", f"echo {uid}\n")
    if apt:
        log = tmp_path / "apt.log"
        _script(
            bin_dir / "apt-get",
            f'echo "$*" >> {log}\n'
            f'if [ "$1" = install ]; then printf "#!/bin/sh\\n" > {bin_dir}/chromium; '
            f"{shutil.which('chmod')} +x {bin_dir}/chromium; fi\n",
        )
    return bin_dir


def _script(path: Path, body: str) -> None:
    path.write_text("#!/bin/bash\n" + body)
    path.chmod(0o755)


def _run(bin_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": str(bin_dir), "HOME": os.environ.get("HOME", "/tmp")}
    return subprocess.run(
        list(args), cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False
    )


def test_root_with_apt_installs_debians_chromium(tmp_path: Path) -> None:
    bin_dir = _bin(tmp_path, uid=0)
    done = _run(bin_dir, "bash", str(SCRIPT))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "apt.log").read_text().splitlines() == [
        "update -qq",
        "install -y -qq chromium",
    ]
    assert (bin_dir / "chromium").exists()


def test_without_root_make_test_stops_before_pytest_with_one_line(tmp_path: Path) -> None:
    bin_dir = _bin(tmp_path, uid=1000)
    done = _run(bin_dir, "make", "--no-print-directory", "test")
    assert done.returncode != 0
    assert done.stderr.splitlines()[0] == HINT
    assert "ruff" not in done.stdout and "pytest" not in done.stdout
    assert not (tmp_path / "apt.log").exists()


def test_root_without_apt_gets_the_same_line(tmp_path: Path) -> None:
    done = _run(_bin(tmp_path, uid=0, apt=False), "bash", str(SCRIPT))
    assert done.returncode == 1
    assert done.stderr.strip() == HINT


def test_chromium_on_path_is_left_alone(tmp_path: Path) -> None:
    bin_dir = _bin(tmp_path, uid=0)
    _script(bin_dir / "chromium", "exit 0\n")
    done = _run(bin_dir, "bash", str(SCRIPT))
    assert done.returncode == 0
    assert not (tmp_path / "apt.log").exists()
