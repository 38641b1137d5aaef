"""`PbxEmulator`: the Vodia REST API on a loopback port, HTTP or HTTPS."""

from __future__ import annotations

from types import TracebackType
from typing import Any

from aiohttp import web

from emulators.clock import Clock
from emulators.faults import FaultInjector
from emulators.pbx import control
from emulators.pbx.auth import Authenticator, pbx_error
from emulators.pbx.concurrent import ConcurrentAccounts
from emulators.pbx.config import PbxEmulatorConfig
from emulators.pbx.http import AUTH_KEY, STATE_KEY, auth_middleware
from emulators.pbx.lost_replies import LostReplies
from emulators.pbx.quirks import Quirks
from emulators.pbx.routes_domain import add_domain_routes
from emulators.pbx.routes_system import add_system_routes
from emulators.pbx.seed import seed_extensions
from emulators.pbx.state import PbxState


class PbxEmulator:
    def __init__(self, config: PbxEmulatorConfig | None = None) -> None:
        self.config = config or PbxEmulatorConfig()
        self.clock = Clock()
        self.state = PbxState(
            self.config.domains,
            max_extensions=self.config.max_extensions,
            strict_duplicates=self.config.strict_duplicates,
            quirks=Quirks(
                write_reply=self.config.write_reply,
                legacy_put=self.config.legacy_put,
                disabled_shows_in=self.config.disabled_shows_in,
            ),
        )
        self.faults = FaultInjector(pbx_error, control.PREFIX)
        self.faults.base_latency_s = self.config.latency_s
        self.auth = Authenticator(self.config, self.clock)
        self.lost_replies = LostReplies()
        self.concurrent_accounts = ConcurrentAccounts()
        if self.config.seed_extensions:
            seed_extensions(
                self.state,
                self.config.seed_extensions,
                seed=self.config.seed,
                mail_domain=self.config.mail_domain,
            )
        self.app = self._build_app()
        self._runner: web.AppRunner | None = None
        self._port = 0

    @property
    def url(self) -> str:
        if self._runner is None:
            raise RuntimeError("the PBX emulator is not running")
        scheme = "https" if self.config.tls is not None else "http"
        return f"{scheme}://{self.config.host}:{self._port}"

    @property
    def control_url(self) -> str:
        return f"{self.url}{control.PREFIX}"

    @property
    def domain(self) -> str:
        return self.state.default_domain

    async def start(self) -> None:
        # A hung-PBX fault keeps its handler asleep for minutes; stopping the emulator
        # should not wait for it (aiohttp waits 60 s for handlers by default).
        runner = web.AppRunner(
            self.app, access_log=None, handle_signals=False, shutdown_timeout=1.0
        )
        await runner.setup()
        ssl_context = self.config.tls.server_context if self.config.tls else None
        site = web.TCPSite(runner, self.config.host, self.config.port, ssl_context=ssl_context)
        await site.start()
        self._runner = runner
        self._port = _bound_port(runner)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> PbxEmulator:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def info(self) -> dict[str, Any]:
        """What a client needs to connect; the same keys `m365sync emulate` prints."""
        domain = self.domain
        return {
            "pbx_url": self.url,
            "pbx_domain": domain,
            "pbx_domains": list(self.config.domains),
            "pbx_admin": self.config.admin_user,
            "pbx_admin_password": self.config.admin_password,
            "pbx_tenant_admin": self.config.tenant_admin(domain),
            "pbx_tenant_admin_password": self.config.tenant_admin_password,
            "pbx_control_url": self.control_url if self.config.control_enabled else None,
        }

    def _build_app(self) -> web.Application:
        app = web.Application(
            middlewares=[
                self.faults.middleware,
                self.lost_replies.middleware,
                auth_middleware,
                self.concurrent_accounts.middleware,  # after auth: it needs the tenant
            ],
            client_max_size=4 * 1024 * 1024,
        )
        app[STATE_KEY] = self.state
        app[AUTH_KEY] = self.auth
        app[control.CLOCK_KEY] = self.clock
        app[control.FAULTS_KEY] = self.faults
        app[control.LOST_REPLIES_KEY] = self.lost_replies
        app[control.CONCURRENT_KEY] = self.concurrent_accounts
        app[control.MAIL_DOMAIN_KEY] = self.config.mail_domain
        add_system_routes(app)
        add_domain_routes(app)
        if self.config.control_enabled:
            control.add_routes(app, self.faults)
        return app


def _bound_port(runner: web.AppRunner) -> int:
    for address in runner.addresses:
        if isinstance(address, tuple):
            return int(address[1])
    raise RuntimeError("the PBX emulator has no bound address")
