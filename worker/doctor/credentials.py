"""How long the link's own credential lasts, and the Setup-Required reason if any."""

from __future__ import annotations

from store.models import Link, LinkState
from worker.doctor import fixes
from worker.doctor.report import Check, failed, passed
from worker.mail.expiry import STEPS_DAYS, certificate_expiry, secret_expiry, today_utc

EXPIRY = "Client secret or certificate is not about to expire"
STATE = "Link is not in Setup Required"
WARN_DAYS = max(STEPS_DAYS)  # the first expiry alert goes out this many days before


def expiry_check(link: Link, certificate_pem: str | None, now: float) -> Check:
    today = today_utc(now)
    if certificate_pem is not None:
        expiry = certificate_expiry(certificate_pem)
        if expiry is None:
            return failed(
                "credential_expiry",
                EXPIRY,
                "the stored certificate PEM holds no readable certificate",
                fixes.CERTIFICATE.format(name=link.name),
            )
        fix = fixes.CERTIFICATE.format(name=link.name)
    else:
        expiry = secret_expiry(link.settings)
        if expiry is None:
            return failed(
                "credential_expiry",
                EXPIRY,
                "the client secret's expiry date is not recorded (link setting "
                "client_secret_expires), so nobody is warned before it stops working",
                "Look up the secret's Expires date in Entra ID (App registrations > the app > "
                "Certificates & secrets) and record it: "
                f"`m365sync link set {link.name} client_secret_expires=YYYY-MM-DD`.",
            )
        fix = fixes.EXPIRED_CLIENT_CREDENTIAL.format(name=link.name).replace(
            "The client secret has expired: create", "Create"
        )
    days = (expiry.expires_on - today).days
    detail = f"the {expiry.what} expires on {expiry.expires_on.isoformat()} ({days} days)"
    if days <= WARN_DAYS:
        if days < 0:
            detail = f"the {expiry.what} expired on {expiry.expires_on.isoformat()}"
        return failed("credential_expiry", EXPIRY, detail, fix)
    return passed("credential_expiry", EXPIRY, detail)


def state_check(link: Link) -> Check:
    if link.state is LinkState.ACTIVE:
        return passed("setup_required", STATE, "Integration active")
    return failed(
        "setup_required",
        STATE,
        f"Setup Required: {link.state_reason}",
        fixes.for_state_reason(link.state_reason, link.name),
    )
