"""Process settings from the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from worker.settings import Settings, SettingsError


def test_defaults_are_the_embedded_setup() -> None:
    """With nothing set: loopback on 8080, SQLite under ./data."""
    settings = Settings.from_env({})
    assert (settings.listen_host, settings.listen_port) == ("127.0.0.1", 8080)
    assert settings.database == Path("data/m365sync.db")
    assert settings.public_url is None


def test_data_dir_moves_the_database_and_key_file() -> None:
    """M365SYNC_DATA_DIR decides where the database and key file live by default."""
    settings = Settings.from_env({"M365SYNC_DATA_DIR": "/var/lib/m365sync"})
    assert settings.database == Path("/var/lib/m365sync/m365sync.db")
    assert settings.key_file == Path("/var/lib/m365sync/secret.key")


def test_port_is_honoured_on_all_interfaces() -> None:
    """PORT (Procfile platforms) listens on all interfaces unless M365SYNC_LISTEN says otherwise."""
    assert Settings.from_env({"PORT": "5000"}).listen_host == "0.0.0.0"  # noqa: S104
    assert Settings.from_env({"PORT": "5000"}).listen_port == 5000
    both = Settings.from_env({"PORT": "5000", "M365SYNC_LISTEN": "127.0.0.2:9"})
    assert (both.listen_host, both.listen_port) == ("127.0.0.2", 5000)


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("M365SYNC_LISTEN", "8080", "HOST:PORT"),
        ("M365SYNC_LISTEN", "localhost:99999", "TCP port"),
        ("PORT", "http", "TCP port"),
        ("M365SYNC_PUBLIC_URL", "sync.example.com", "https://"),
        ("M365SYNC_LOG_FORMAT", "xml", "json, console"),
        ("M365SYNC_CA_BUNDLE", "/nonexistent/ca.pem", "readable file"),
        ("M365SYNC_SMTP_URL", "mail.example.com", "smtp://"),
        ("M365SYNC_ALERT_FROM", "nobody", "e-mail address"),
        ("M365SYNC_ADMIN_LISTEN", "8081", "HOST:PORT"),
        ("M365SYNC_ADMIN_LISTEN", "127.0.0.1:0", "TCP port"),
        ("M365SYNC_ADMIN_LISTEN", "127.0.0.1:8080", "other than the public"),
    ],
)
def test_bad_values_name_the_variable_value_and_expectation(
    name: str, value: str, expected: str
) -> None:
    """Each bad value gives one message naming the variable, the value and what is expected."""
    with pytest.raises(SettingsError) as info:
        Settings.from_env({name: value})
    message = str(info.value)
    assert message.startswith(f"{name}=")
    assert value in message
    assert expected in message


def test_admin_listener_and_metrics_token() -> None:
    """Unset: one listener, /metrics open. Set: the private address, and a token that no
    repr of the settings shows."""
    plain = Settings.from_env({})
    assert (plain.admin_listen, plain.metrics_token) == (None, None)
    split = Settings.from_env(
        {"M365SYNC_ADMIN_LISTEN": "[::1]:8081", "M365SYNC_METRICS_TOKEN": "tok-123456"}
    )
    assert split.admin_listen == ("::1", 8081)
    assert split.metrics_token == "tok-123456"
    assert "tok-123456" not in repr(split)


def test_smtp_password_is_not_repeated_in_the_error() -> None:
    """A bad SMTP URL's password is masked in the error message."""
    with pytest.raises(SettingsError) as info:
        Settings.from_env({"M365SYNC_SMTP_URL": "ftp://u:hunter2@mail"})
    assert "hunter2" not in str(info.value)


def test_tls_needs_both_files(tmp_path: Path) -> None:
    """A certificate without its key (or the reverse) is a configuration error."""
    cert = tmp_path / "cert.pem"
    cert.write_text("x")
    with pytest.raises(SettingsError, match="M365SYNC_TLS_KEY"):
        Settings.from_env({"M365SYNC_TLS_CERT": str(cert)})


def test_database_url_chooses_postgresql_and_unset_keeps_sqlite() -> None:
    """M365SYNC_DATABASE_URL is what the store opens; without it, the SQLite file."""
    url = "postgresql://m365sync:s3cret-pw@db.example:5432/m365sync"
    settings = Settings.from_env({"M365SYNC_DATABASE_URL": url})
    assert settings.store_location == url
    assert settings.store_label == "postgresql://m365sync:***@db.example:5432/m365sync"
    plain = Settings.from_env({"M365SYNC_DATABASE": "/srv/m.db"})
    assert (plain.database_url, plain.store_location) == (None, Path("/srv/m.db"))
    assert plain.store_label == "/srv/m.db"


@pytest.mark.parametrize(
    "value",
    ["mysql://u:pw@h/db", "/var/lib/m.db", "postgresql://", "postgresql://u:pw@h:port/db"],
)
def test_a_bad_database_url_is_refused_without_its_password(value: str) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({"M365SYNC_DATABASE_URL": value})
    assert caught.value.name == "M365SYNC_DATABASE_URL"
    assert ":pw@" not in str(caught.value)
