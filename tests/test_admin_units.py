"""Sessions, sign-in limits, password hashes and `m365sync admin set-password`."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

import pytest

from admin.passwords import hash_password, verify_password
from admin.ratelimit import SignInLimiter
from admin.sessions import Principal, SessionStore, new_state
from cli.commands.admin import run_set_password
from cli.commands.errors import UsageError
from store import Database, open_store
from store.admins import get_admin_account
from worker.settings import Settings


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_session_expires_after_idle_time_and_activity_keeps_it(db: Database) -> None:
    """A session used within the idle timeout lives on; left idle longer, it is gone."""
    clock = FakeClock()
    store = SessionStore(idle_timeout_s=60, absolute_timeout_s=3600, clock=clock)
    session = await store.create(db, Principal("admin@x", frozenset({1})))
    clock.now += 50
    assert (await store.get(db, session.id)) is not None
    clock.now += 50
    found = await store.get(db, session.id)
    assert found is not None and found.csrf == session.csrf
    clock.now += 61
    assert await store.get(db, session.id) is None


async def test_session_ends_at_the_absolute_timeout_however_active(db: Database) -> None:
    """Activity does not extend a session past its absolute lifetime."""
    clock = FakeClock()
    store = SessionStore(idle_timeout_s=60, absolute_timeout_s=200, clock=clock)
    session = await store.create(db, Principal("admin@x", None))
    for _ in range(4):
        clock.now += 45
        assert await store.get(db, session.id) is not None
    clock.now += 45
    assert await store.get(db, session.id) is None


async def test_flow_state_is_used_once_and_bound_to_its_session(db: Database) -> None:
    """A consent/token round trip's state finds its session once; a replay finds nothing."""
    store = SessionStore()
    session = await store.create(db, Principal("admin@x", frozenset({1})))
    state = new_state()
    await store.put_flow(db, state, session, 1, "token", {"auth_uri": "x"})
    found = await store.take_flow(db, state)
    assert found is not None and found[1].id_hash == session.id_hash
    assert found[0].kind == "token" and found[0].data == {"auth_uri": "x"}
    assert await store.take_flow(db, state) is None
    assert await store.take_flow(db, "forged") is None


async def test_limiter_locks_an_account_and_its_window_passes(db: Database) -> None:
    """Five failures lock the account (not others); after the window it may try again."""
    clock = FakeClock()
    limiter = SignInLimiter(window_s=900, per_account=5, per_address=20, clock=clock)
    for _ in range(5):
        assert await limiter.retry_after_s(db, "10.0.0.1", "Admin@X") == 0
        await limiter.failed(db, "10.0.0.1", "admin@x")
    assert await limiter.retry_after_s(db, "10.0.0.2", "ADMIN@x") > 0
    assert await limiter.retry_after_s(db, "10.0.0.1", "other@x") == 0
    clock.now += 901
    assert await limiter.retry_after_s(db, "10.0.0.1", "admin@x") == 0


async def test_limiter_locks_an_address_trying_many_accounts(db: Database) -> None:
    """Twenty failures from one address lock that address for every account."""
    limiter = SignInLimiter(per_account=5, per_address=20)
    for i in range(20):
        await limiter.failed(db, "10.0.0.9", f"user{i}")
    assert await limiter.retry_after_s(db, "10.0.0.9", "fresh") > 0
    assert await limiter.retry_after_s(db, "10.0.0.8", "fresh") == 0


def test_password_hash_is_salted_scrypt_and_verifies() -> None:
    """Two hashes of one password differ (salt); only the right password verifies."""
    first, second = hash_password("correct horse", n=2**12), hash_password("correct horse", n=2**12)
    assert first != second and first.startswith("scrypt$")
    assert verify_password("correct horse", first)
    assert not verify_password("wrong horse", first)
    assert not verify_password("correct horse", "garbage")


def _settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, password: str) -> Settings:
    # The handler, not main(): main() configures logging for the whole test process.
    monkeypatch.setenv("M365SYNC_ADMIN_PASSWORD", password)
    return Settings(data_dir=tmp_path, database=tmp_path / "m365sync.db")


def test_set_password_stores_only_a_hash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`m365sync admin set-password` reads the env var and stores an scrypt hash."""
    settings = _settings(tmp_path, monkeypatch, "a-long-enough-password")
    assert run_set_password(argparse.Namespace(user="boss"), settings) == 0
    assert "boss" in capsys.readouterr().out

    async def stored() -> tuple[str, str]:
        db = await open_store(
            tmp_path / "m365sync.db", secret_key=None, key_file=tmp_path / "secret.key"
        )
        try:
            account = await get_admin_account(db)
        finally:
            await db.close()
        assert account is not None
        return account.username, account.password_hash

    username, password_hash = asyncio.run(stored())
    assert username == "boss"
    assert "a-long-enough-password" not in password_hash
    assert verify_password("a-long-enough-password", password_hash)


def test_set_password_refuses_a_short_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fewer than 12 characters is a usage error (exit 2 from the CLI) and stores nothing."""
    settings = _settings(tmp_path, monkeypatch, "short")
    with pytest.raises(UsageError, match="at least 12"):
        run_set_password(argparse.Namespace(user="m365sync"), settings)
    assert not (tmp_path / "m365sync.db").exists()


def test_next_after_sign_in_is_only_a_local_path() -> None:
    """The post-sign-in redirect never leaves the site (no open redirect)."""
    from admin.auth import safe_next

    assert safe_next("/links/2/setup?x=1") == "/links/2/setup?x=1"
    for evil in ("https://evil.example/", "//evil.example", "/\\evil.example", "links", ""):
        assert safe_next(evil) == "/links", evil
