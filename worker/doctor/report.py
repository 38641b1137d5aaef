"""What the doctor hands back: one line per check, passed or failed, and for a failure the
fix in the administrator's words."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Check:
    id: str  # stable, for --json and docs/troubleshooting.md
    title: str  # what was checked, phrased so that ✓ reads as "this is so"
    ok: bool
    detail: str = ""  # what was seen
    fix: str = ""  # only for a failure: what the administrator does about it

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "ok": self.ok,
            "detail": self.detail,
            "fix": self.fix,
        }


def passed(check_id: str, title: str, detail: str = "") -> Check:
    return Check(check_id, title, True, detail)


def failed(check_id: str, title: str, detail: str, fix: str) -> Check:
    return Check(check_id, title, False, detail, fix)


def not_checked(check_id: str, title: str, blocker: str) -> Check:
    """A check that could not run because an earlier one failed. It is not a pass."""
    return Check(
        check_id,
        title,
        False,
        f"not checked: {blocker!r} failed",
        f"Fix {blocker!r} first, then run the check again.",
    )


@dataclass(frozen=True, slots=True)
class Report:
    link: str
    auth_mode: str
    checks: tuple[Check, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)

    @property
    def failures(self) -> tuple[Check, ...]:
        return tuple(check for check in self.checks if not check.ok)

    def to_json(self) -> dict[str, Any]:
        return {
            "link": self.link,
            "auth_mode": self.auth_mode,
            "ok": self.ok,
            "checks": [check.to_json() for check in self.checks],
        }

    def lines(self) -> list[str]:
        """The report as text: one line per check, the fix indented under a failure."""
        out = [f"{self.link} ({self.auth_mode} mode)"]
        for check in self.checks:
            mark = "✓" if check.ok else "✗"
            detail = f" — {check.detail}" if check.detail else ""
            out.append(f"  {mark} {check.title}{detail}")
            if not check.ok and check.fix:
                out.append(f"      fix: {check.fix}")
        return out
