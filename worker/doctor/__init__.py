"""`m365sync doctor` and the link page's Check button: one line per check, ✓ or ✗, and for
each ✗ the fix in the administrator's words (docs/troubleshooting.md lists them all).

    run_doctor(db, link, settings, *, public_trust=None, now=None) -> Report
    Report.ok, .checks (Check: id, title, ok, detail, fix), .to_json(), .lines()

Read-only: GETs to Graph and the PBX, a token request, and the validation handshake sent to
our own public URL. Nothing is written to Microsoft 365, the PBX or the store.
"""

from __future__ import annotations

from worker.doctor.report import Check, Report
from worker.doctor.runner import ORDER, run_doctor

__all__ = ["ORDER", "Check", "Report", "run_doctor"]
