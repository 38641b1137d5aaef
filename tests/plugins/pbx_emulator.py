"""Fixtures: a running Vodia PBX emulator on a loopback port, and raw HTTP access to it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest

from emulators.pbx import PbxEmulator, PbxEmulatorConfig

MakePbx = Callable[..., Awaitable[PbxEmulator]]


@pytest.fixture
async def make_pbx() -> AsyncIterator[MakePbx]:
    """Start PBX emulators with config overrides; all are stopped at teardown."""
    started: list[PbxEmulator] = []

    async def make(**overrides: Any) -> PbxEmulator:
        emulator = PbxEmulator(PbxEmulatorConfig(**overrides))
        await emulator.start()
        started.append(emulator)
        return emulator

    yield make
    for emulator in started:
        await emulator.stop()


@pytest.fixture
async def pbx(make_pbx: MakePbx) -> PbxEmulator:
    """A PBX with one tenant, its service accounts and no extensions."""
    return await make_pbx()


def basic(username: str, password: str) -> dict[str, str]:
    return {"Authorization": aiohttp.encode_basic_auth(username, password)}


def admin_headers(pbx: PbxEmulator) -> dict[str, str]:
    return basic(pbx.config.admin_user, pbx.config.admin_password)


def tenant_headers(pbx: PbxEmulator, domain: str | None = None) -> dict[str, str]:
    return basic(pbx.config.tenant_admin(domain or pbx.domain), pbx.config.tenant_admin_password)


@pytest.fixture
async def plain_http() -> AsyncIterator[aiohttp.ClientSession]:
    """A plain client session (no cookie jar) for talking to emulators directly."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as session:
        yield session
