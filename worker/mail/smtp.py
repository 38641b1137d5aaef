"""Where alert mail goes: M365SYNC_SMTP_URL parsed once, and one bounded send."""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import unquote, urlsplit

import aiosmtplib

# smtp:// is plain on purpose: an opportunistic STARTTLS against a relay with a
# certificate we cannot verify would fail every mail. Ask for TLS by scheme instead.
_SCHEMES = {
    "smtp": (25, False, False),
    "smtp+starttls": (587, False, True),
    "smtps": (465, True, False),
}


@dataclass(frozen=True, slots=True)
class SmtpTarget:
    host: str
    port: int
    use_tls: bool = False
    start_tls: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_bundle: Path | None = None

    @classmethod
    def from_url(cls, url: str, *, ca_bundle: Path | None = None) -> SmtpTarget:
        parts = urlsplit(url)
        if parts.scheme not in _SCHEMES or not parts.hostname:
            raise ValueError(
                "expected smtp://, smtp+starttls:// or smtps://[user:pass@]host[:port]"
            )
        default_port, use_tls, start_tls = _SCHEMES[parts.scheme]
        return cls(
            host=parts.hostname,
            port=parts.port or default_port,
            use_tls=use_tls,
            start_tls=start_tls,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            ca_bundle=ca_bundle,
        )

    @property
    def shown(self) -> str:
        """For logs: no credentials."""
        scheme = "smtps" if self.use_tls else "smtp+starttls" if self.start_tls else "smtp"
        return f"{scheme}://{self.host}:{self.port}"

    def tls_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        if self.ca_bundle is not None:
            context.load_verify_locations(cafile=str(self.ca_bundle))
        return context


async def send_mail(target: SmtpTarget, message: EmailMessage, *, timeout_s: float) -> None:
    """One delivery attempt; raises aiosmtplib.SMTPException or OSError/TimeoutError."""
    tls = target.use_tls or target.start_tls
    await aiosmtplib.send(
        message,
        hostname=target.host,
        port=target.port,
        username=target.username,
        password=target.password,
        use_tls=target.use_tls,
        start_tls=target.start_tls,
        tls_context=target.tls_context() if tls else None,
        timeout=timeout_s,
    )
