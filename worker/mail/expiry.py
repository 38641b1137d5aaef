"""When a link's credentials run out: the client certificate (read from its PEM) and the
client secret (the expiry date entered with the link, settings key `client_secret_expires`)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from cryptography import x509

STEPS_DAYS = (30, 7, 0)  # alert when this few days are left, once per step (0: expired)
_PEM_CERT = re.compile(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.DOTALL)


@dataclass(frozen=True, slots=True)
class Expiry:
    what: str  # "client certificate" | "client secret"
    expires_on: date


def certificate_expiry(pem: str) -> Expiry | None:
    """The leaf certificate's notAfter; None when the PEM holds no readable certificate."""
    match = _PEM_CERT.search(pem.encode())
    if match is None:
        return None
    try:
        cert = x509.load_pem_x509_certificate(match.group(0))
    except ValueError:
        return None
    return Expiry("client certificate", cert.not_valid_after_utc.date())


def secret_expiry(settings: Mapping[str, Any]) -> Expiry | None:
    raw = settings.get("client_secret_expires")
    if not isinstance(raw, str) or not raw.strip():
        return None
    text = raw.strip()
    try:
        day = date.fromisoformat(text[:10])
    except ValueError:
        return None
    return Expiry("client secret", day)


def due_step(expiry: Expiry, today: date) -> tuple[int, int] | None:
    """(step, days_left) when an alert step is due: the tightest step the days left are in."""
    days_left = (expiry.expires_on - today).days
    due = [step for step in STEPS_DAYS if days_left <= step]
    if not due:
        return None
    return min(due), days_left


def today_utc(now_s: float) -> date:
    return datetime.fromtimestamp(now_s, UTC).date()
