"""E-mail alerts. Without M365SYNC_SMTP_URL the engine gets the silent base `Alerts`."""

from __future__ import annotations

from worker.alerts import Alerts
from worker.settings import Settings


def alerts_from_settings(settings: Settings) -> Alerts:
    return Alerts()
