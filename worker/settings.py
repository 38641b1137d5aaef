"""Process settings, read once from the environment in `main()`.

Link settings (ranges, policy, credentials) live in the database; these are only
what the process needs to start.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

LOG_FORMATS = ("json", "console")
LOG_LEVELS = ("debug", "info", "warning", "error")
SQLITE_SYNC_MODES = ("full", "normal")


class SettingsError(ValueError):
    """A setting has a value we cannot use; the message names it and says what is expected."""

    def __init__(self, name: str, value: str, expected: str) -> None:
        super().__init__(f"{name}={value!r} is invalid: expected {expected}")
        self.name = name


@dataclass(frozen=True, slots=True)
class Settings:
    data_dir: Path = Path("data")
    database: Path = Path("data/m365sync.db")
    # postgresql://… (M365SYNC_DATABASE_URL): several instances share one database; None
    # keeps the SQLite file `database`.
    database_url: str | None = None
    listen_host: str = "127.0.0.1"
    listen_port: int = 8080
    public_url: str | None = None
    secret_key: str | None = None
    log_format: str | None = None  # None: console on a TTY, JSON lines otherwise
    log_level: str = "info"
    ca_bundle: Path | None = None
    smtp_url: str | None = None
    alert_from: str | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    sqlite_synchronous: str = "full"
    worker_lease_s: float = 120.0
    worker_poll_s: float = 2.0
    # Sweeps running at once across all links (a sweep reads every extension's cell).
    max_concurrent_sweeps: int = 4
    # Rounds running at once in this process, across links: 500 links woken together must
    # not crowd the event loop the webhook acks on.
    max_concurrent_rounds: int = 32
    # M365SYNC_ADMIN_LISTEN: a second, private listener for the admin page, its API,
    # /readyz and /metrics; the public one then serves only Graph, OAuth and /healthz.
    admin_listen: tuple[str, int] | None = None
    # M365SYNC_METRICS_TOKEN: /metrics then wants `Authorization: Bearer <token>`.
    metrics_token: str | None = field(default=None, repr=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        data_dir = Path(_get(env, "M365SYNC_DATA_DIR") or "data")
        database = Path(_get(env, "M365SYNC_DATABASE") or data_dir / "m365sync.db")
        host, port = _listen(env)
        admin_listen = _admin_listen(env)
        if admin_listen is not None and admin_listen[1] == port:
            raise SettingsError(
                "M365SYNC_ADMIN_LISTEN",
                env["M365SYNC_ADMIN_LISTEN"],
                f"a port other than the public listener's ({port})",
            )
        tls_cert = _optional_file(env, "M365SYNC_TLS_CERT")
        tls_key = _optional_file(env, "M365SYNC_TLS_KEY")
        if (tls_cert is None) != (tls_key is None):
            missing = "M365SYNC_TLS_KEY" if tls_key is None else "M365SYNC_TLS_CERT"
            raise SettingsError(
                missing, "", "both M365SYNC_TLS_CERT and M365SYNC_TLS_KEY, or neither"
            )
        return cls(
            data_dir=data_dir,
            database=database,
            database_url=_database_url(env),
            listen_host=host,
            listen_port=port,
            public_url=_public_url(env),
            secret_key=_get(env, "M365SYNC_SECRET_KEY"),
            log_format=_choice(env, "M365SYNC_LOG_FORMAT", LOG_FORMATS, None),
            log_level=_choice(env, "M365SYNC_LOG_LEVEL", LOG_LEVELS, "info") or "info",
            ca_bundle=_optional_file(env, "M365SYNC_CA_BUNDLE"),
            smtp_url=_smtp_url(env),
            alert_from=_email(env, "M365SYNC_ALERT_FROM"),
            tls_cert=tls_cert,
            tls_key=tls_key,
            worker_lease_s=_seconds(env, "M365SYNC_WORKER_LEASE_S", 120.0, 1.0, 3600.0),
            worker_poll_s=_seconds(env, "M365SYNC_WORKER_POLL_S", 2.0, 0.05, 300.0),
            admin_listen=admin_listen,
            metrics_token=_get(env, "M365SYNC_METRICS_TOKEN"),
            max_concurrent_sweeps=_count(env, "M365SYNC_MAX_CONCURRENT_SWEEPS", 4, 1, 1000),
            max_concurrent_rounds=_count(env, "M365SYNC_MAX_CONCURRENT_ROUNDS", 32, 1, 1000),
            sqlite_synchronous=_choice(
                env, "M365SYNC_SQLITE_SYNCHRONOUS", SQLITE_SYNC_MODES, "full"
            )
            or "full",
        )

    @property
    def key_file(self) -> Path:
        return self.data_dir / "secret.key"

    @property
    def store_location(self) -> Path | str:
        """What the store opens: the PostgreSQL URL when one is set, else the SQLite file."""
        return self.database_url or self.database

    @property
    def store_label(self) -> str:
        """The store's location as logs and messages may show it: never the password."""
        if self.database_url is not None:
            return _without_password(self.database_url)
        return str(self.database)


def _get(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name, "").strip()
    return value or None


def _listen(env: Mapping[str, str]) -> tuple[str, int]:
    raw = _get(env, "M365SYNC_LISTEN")
    port_env = _get(env, "PORT")
    if raw is None:
        # Platforms that set PORT (Heroku and friends) route from outside the
        # container, so the daemon must listen on all interfaces there.
        if port_env is not None:
            return "0.0.0.0", _port("PORT", port_env)  # noqa: S104
        return "127.0.0.1", 8080
    host, sep, port_text = raw.rpartition(":")
    if not sep or not host:
        raise SettingsError("M365SYNC_LISTEN", raw, "HOST:PORT, e.g. 127.0.0.1:8080")
    port = _port("M365SYNC_LISTEN", port_text, raw)
    if port_env is not None:
        port = _port("PORT", port_env)
    return host.strip("[]"), port


def _admin_listen(env: Mapping[str, str]) -> tuple[str, int] | None:
    raw = _get(env, "M365SYNC_ADMIN_LISTEN")
    if raw is None:
        return None
    host, sep, port_text = raw.rpartition(":")
    if not sep or not host:
        raise SettingsError("M365SYNC_ADMIN_LISTEN", raw, "HOST:PORT, e.g. 127.0.0.1:8081")
    return host.strip("[]"), _port("M365SYNC_ADMIN_LISTEN", port_text, raw)


def _seconds(env: Mapping[str, str], name: str, default: float, low: float, high: float) -> float:
    raw = _get(env, name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not low <= value <= high:
        raise SettingsError(name, raw, f"a number of seconds between {low:g} and {high:g}")
    return value


def _count(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = _get(env, name)
    if raw is None:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise SettingsError(name, raw, f"a whole number between {low} and {high}")
    return int(raw)


def _port(name: str, text: str, shown: str | None = None) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise SettingsError(name, shown or text, "a TCP port between 1 and 65535")
    return int(text)


def _public_url(env: Mapping[str, str]) -> str | None:
    raw = _get(env, "M365SYNC_PUBLIC_URL")
    if raw is None:
        return None
    parts = urlsplit(raw)
    if parts.scheme not in ("https", "http") or not parts.netloc or parts.query or parts.fragment:
        raise SettingsError(
            "M365SYNC_PUBLIC_URL",
            raw,
            "an absolute https:// URL without query, e.g. https://sync.example.com",
        )
    return raw.rstrip("/")


def _choice(
    env: Mapping[str, str], name: str, allowed: tuple[str, ...], default: str | None
) -> str | None:
    raw = _get(env, name)
    if raw is None:
        return default
    if raw.lower() not in allowed:
        raise SettingsError(name, raw, "one of " + ", ".join(allowed))
    return raw.lower()


def _optional_file(env: Mapping[str, str], name: str) -> Path | None:
    raw = _get(env, name)
    if raw is None:
        return None
    path = Path(raw)
    if not path.is_file():
        raise SettingsError(name, raw, "the path of a readable file")
    return path


def _smtp_url(env: Mapping[str, str]) -> str | None:
    raw = _get(env, "M365SYNC_SMTP_URL")
    if raw is None:
        return None
    parts = urlsplit(raw)
    if parts.scheme not in ("smtp", "smtps", "smtp+starttls") or not parts.hostname:
        raise SettingsError(
            "M365SYNC_SMTP_URL",
            _without_password(raw),
            "smtp://, smtp+starttls:// or smtps://[user:password@]host[:port]",
        )
    return raw


def _database_url(env: Mapping[str, str]) -> str | None:
    raw = _get(env, "M365SYNC_DATABASE_URL")
    if raw is None:
        return None
    try:
        parts = urlsplit(raw)
        parts.port  # noqa: B018 (raises ValueError for a port that is not a number)
    except ValueError:
        parts = urlsplit("")
    if parts.scheme not in ("postgresql", "postgres") or not (parts.hostname or parts.query):
        raise SettingsError(
            "M365SYNC_DATABASE_URL",
            _without_password(raw),
            "postgresql://user[:password]@host[:port]/database (unset: the SQLite file)",
        )
    return raw


def _without_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return url.replace(f":{parts.password}@", ":***@", 1)


def _email(env: Mapping[str, str], name: str) -> str | None:
    raw = _get(env, name)
    if raw is None:
        return None
    local, at, domain = raw.rpartition("@")
    if not at or not local or "." not in domain:
        raise SettingsError(name, raw, "an e-mail address such as m365sync@example.com")
    return raw
