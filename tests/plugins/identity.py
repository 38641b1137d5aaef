"""Fixtures that serve the emulated identity platform over HTTPS on 127.0.0.1:0.

    identity_options   IdentityOptions for the platform (override the fixture to change them)
    test_ca            one trustme CA per test session (server context + ca.pem path)
    identity_server    an IdentityServer: platform, clock, tenant, ca, origin, authority

`serve_https(app, ca)` starts any aiohttp app the same way, so the Graph emulator's
fixtures can serve the identity routes together with Graph.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from aiohttp import web

from emulators.clock import Clock
from emulators.identity import (
    IdentityOptions,
    IdentityPlatform,
    add_identity_control_routes,
    add_identity_routes,
)
from emulators.tenant import EmulatedTenant
from emulators.tls import TestCA, create_test_ca


@dataclass(frozen=True, slots=True)
class HttpsServer:
    runner: web.AppRunner
    origin: str  # https://127.0.0.1:PORT


@dataclass(frozen=True, slots=True)
class IdentityServer:
    platform: IdentityPlatform
    ca: TestCA
    origin: str

    @property
    def tenant(self) -> EmulatedTenant:
        return self.platform.tenant

    @property
    def clock(self) -> Clock:
        return self.platform.clock

    @property
    def ca_path(self) -> str:
        return str(self.ca.ca_path)

    @property
    def authority(self) -> str:
        """`https://127.0.0.1:PORT/{tenant_id}`, what MSAL takes as `authority`."""
        return f"{self.origin}/{self.tenant.tenant_id}"

    def requests_session(self) -> requests.Session:
        """A session for MSAL that trusts only the test CA, whatever the environment says."""
        session = requests.Session()
        session.trust_env = False
        session.verify = self.ca_path
        return session


async def serve_https(app: web.Application, ca: TestCA) -> HttpsServer:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ca.server_context)
    await site.start()
    host, port = runner.addresses[0][:2]
    return HttpsServer(runner=runner, origin=f"https://{host}:{port}")


@pytest.fixture(scope="session")
def test_ca(tmp_path_factory: pytest.TempPathFactory) -> TestCA:
    state_dir: Path = tmp_path_factory.mktemp("emulator-ca")
    return create_test_ca(state_dir)


@pytest.fixture
def identity_options() -> IdentityOptions:
    return IdentityOptions()


@pytest.fixture
async def identity_server(
    test_ca: TestCA, identity_options: IdentityOptions
) -> AsyncIterator[IdentityServer]:
    platform = IdentityPlatform(EmulatedTenant(), Clock(), identity_options)
    app = web.Application()
    add_identity_routes(app, platform)
    add_identity_control_routes(app, platform)
    server = await serve_https(app, test_ca)
    try:
        yield IdentityServer(platform=platform, ca=test_ca, origin=server.origin)
    finally:
        await server.runner.cleanup()
