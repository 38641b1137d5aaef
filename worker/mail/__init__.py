"""E-mail alerts. Without M365SYNC_SMTP_URL the engine gets the silent base `Alerts`."""

from __future__ import annotations

from store import Database
from worker.alerts import Alerts
from worker.mail.sender import EmailAlerts, default_sender
from worker.mail.smtp import SmtpTarget
from worker.settings import Settings

__all__ = ["EmailAlerts", "SmtpTarget", "alerts_from_settings"]


def alerts_from_settings(settings: Settings, db: Database) -> Alerts:
    if settings.smtp_url is None:
        return Alerts()
    target = SmtpTarget.from_url(settings.smtp_url, ca_bundle=settings.ca_bundle)
    return EmailAlerts(
        db,
        target,
        settings.alert_from or default_sender(),
        public_url=settings.public_url,
    )
