"""Fixtures for the Graph emulator: a started emulator, an SSL context trusting its CA,
an app token from its identity platform, and a session that sends that token."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from emulators.graph.server import GraphEmulator, GraphEmulatorConfig

MakeGraphEmulator = Callable[..., Awaitable[GraphEmulator]]


async def fetch_app_token(emulator: GraphEmulator, session: aiohttp.ClientSession) -> str:
    """A client-credentials token for the tenant's app, as azure-identity would get it."""
    tenant = emulator.config.tenant
    form = {
        "grant_type": "client_credentials",
        "client_id": tenant.client_id,
        "client_secret": tenant.client_secret,
        "scope": "https://graph.microsoft.com/.default",
    }
    async with session.post(f"{emulator.authority}/oauth2/v2.0/token", data=form) as response:
        assert response.status == 200, await response.text()
        return str((await response.json())["access_token"])


@pytest.fixture
def graph_emulator_config(tmp_path: Path) -> GraphEmulatorConfig:
    """Override in a test module to start the emulator with other settings."""
    return GraphEmulatorConfig(
        state_dir=tmp_path / "graph-emulator",
        delivery_horizon_s=30.0,
        allow_http_loopback_notifications=True,  # test receivers listen on http://127.0.0.1
    )


@pytest.fixture
async def make_graph_emulator(tmp_path: Path) -> AsyncIterator[MakeGraphEmulator]:
    """Start Graph emulators with config overrides; all are stopped at teardown."""
    started: list[GraphEmulator] = []

    async def make(**overrides: Any) -> GraphEmulator:
        state_dir = tmp_path / f"graph-emulator-{len(started)}"
        # Test receivers listen on http://127.0.0.1: the explicit switch, unless overridden.
        options = {"allow_http_loopback_notifications": True, **overrides}
        emulator = GraphEmulator(GraphEmulatorConfig(state_dir=state_dir, **options))
        await emulator.start()
        started.append(emulator)
        return emulator

    yield make
    for emulator in started:
        await emulator.stop()


@pytest.fixture
async def graph_emulator(
    graph_emulator_config: GraphEmulatorConfig,
) -> AsyncIterator[GraphEmulator]:
    async with GraphEmulator(graph_emulator_config) as emulator:
        yield emulator


@pytest.fixture
def graph_ssl(graph_emulator: GraphEmulator) -> ssl.SSLContext:
    return graph_emulator.client_ssl_context()


@pytest.fixture
async def graph_token(graph_emulator: GraphEmulator, graph_ssl: ssl.SSLContext) -> str:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=graph_ssl)) as session:
        return await fetch_app_token(graph_emulator, session)


@pytest.fixture
async def graph_session(
    graph_emulator: GraphEmulator, graph_ssl: ssl.SSLContext, graph_token: str
) -> AsyncIterator[aiohttp.ClientSession]:
    """Relative URLs resolve against the emulator's origin; the app token is attached."""
    async with aiohttp.ClientSession(
        base_url=graph_emulator.url,
        connector=aiohttp.TCPConnector(ssl=graph_ssl),
        headers={"Authorization": f"Bearer {graph_token}"},
    ) as session:
        yield session
