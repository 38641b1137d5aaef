"""`GraphEmulator`: the identity platform, Graph v1.0, the control API and the directory
console in one aiohttp app served over HTTPS with a test CA."""

from __future__ import annotations

import ssl
from types import TracebackType
from typing import Any

from aiohttp import web

from emulators.clock import Clock
from emulators.faults import FaultInjector
from emulators.identity import IdentityOptions, IdentityPlatform, add_identity_routes
from emulators.tls import TestCA, create_test_ca

from .auth import bearer_middleware
from .config import GraphEmulatorConfig
from .console import add_console_routes
from .context import CONTEXT, GraphContext
from .control import add_graph_control_routes, advance_clock
from .delivery import Delivery
from .delta import DeltaTokens
from .directory import Directory
from .errors import fault_body, graph_error_middleware
from .requests import RequestCounter
from .routes_delta import add_delta_routes
from .routes_groups import add_group_routes
from .routes_subscriptions import add_subscription_routes
from .routes_users import add_user_routes
from .subscriptions import Subscriptions

__all__ = ["GraphEmulator", "GraphEmulatorConfig"]

CONTROL_PREFIX = "/_emulator/"


class GraphEmulator:
    def __init__(self, config: GraphEmulatorConfig) -> None:
        self.config = config
        self._clock = Clock()
        self._identity = IdentityPlatform(
            config.tenant, self._clock, IdentityOptions(app_roles=config.app_roles)
        )
        self._directory = Directory(self._clock, config.tenant.domain)
        self._directory.replication_lag_s = config.replication_lag_s
        self._faults = FaultInjector(fault_body, CONTROL_PREFIX)
        self._faults.base_latency_s = config.latency_s
        subscriptions = Subscriptions(self._clock)
        self._delivery = Delivery(config, subscriptions)
        self._directory.listeners.append(self._delivery.on_change)
        self._context = GraphContext(
            config=config,
            clock=self._clock,
            identity=self._identity,
            directory=self._directory,
            delta_tokens=DeltaTokens(self._clock, page_lifetime_s=config.page_token_lifetime_s),
            subscriptions=subscriptions,
            delivery=self._delivery,
            faults=self._faults,
        )
        self._requests = RequestCounter()
        self._ca: TestCA | None = None
        self._outbound: ssl.SSLContext | None = None
        self._runner: web.AppRunner | None = None
        self._port: int | None = None

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        self._ca = self.config.tls or create_test_ca(self.config.state_dir)
        if self.config.seed_users:
            self._directory.seed(self.config.seed_users, self.config.seed)
        self._outbound = self._outbound_ssl(self._ca)
        await self._delivery.start(self._outbound)
        self._runner = web.AppRunner(self.build_app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(
            self._runner, self.config.host, self.config.port, ssl_context=self._ca.server_context
        )
        await site.start()
        self._port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        await self._delivery.stop()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> GraphEmulator:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def build_app(self) -> web.Application:
        app = web.Application(
            middlewares=[
                self._requests.middleware,
                graph_error_middleware,
                self._faults.middleware,
                bearer_middleware,
            ],
            client_max_size=4 * 1024 * 1024,
        )
        app[CONTEXT] = self._context
        add_identity_routes(app, self._identity)
        add_delta_routes(app)  # before /users/{id}, which would swallow "delta"
        add_user_routes(app)
        add_group_routes(app)
        add_subscription_routes(app)
        if self.config.control_enabled:
            add_graph_control_routes(app, self._context, CONTROL_PREFIX)
            add_console_routes(app, CONTROL_PREFIX)
        return app

    @staticmethod
    def _outbound_ssl(ca: TestCA) -> ssl.SSLContext:
        # Like Graph, trust only public CAs (the system store) for notification endpoints;
        # a test CA, ours included, only once `trust_notification_ca` is told so.
        del ca
        return ssl.create_default_context()

    # -- what tests and the CLI use -------------------------------------------------------

    def trust_notification_ca(self, ca_path: str) -> None:
        """Also trust this CA for notification endpoints (a webhook served with its own
        test certificate). New connections use it at once."""
        if self._outbound is None:
            raise RuntimeError("the emulator is not started")
        self._outbound.load_verify_locations(cafile=ca_path)

    @property
    def url(self) -> str:
        if self._port is None:
            raise RuntimeError("the emulator is not started")
        return f"https://{self.config.host}:{self._port}"

    @property
    def graph_url(self) -> str:
        return f"{self.url}/v1.0"

    @property
    def authority(self) -> str:
        return f"{self.url}/{self.config.tenant.tenant_id}"

    @property
    def ca_path(self) -> str:
        if self._ca is None:
            raise RuntimeError("the emulator is not started")
        return str(self._ca.ca_path)

    def client_ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.ca_path)

    @property
    def clock(self) -> Clock:
        return self._clock

    @property
    def identity(self) -> IdentityPlatform:
        return self._identity

    @property
    def directory(self) -> Directory:
        return self._directory

    @property
    def faults(self) -> FaultInjector:
        return self._faults

    @property
    def api_requests_by_method(self) -> dict[str, int]:
        """Graph API (/v1.0/) requests received so far, by HTTP method."""
        return dict(self._requests.by_method)

    @property
    def delivery(self) -> Delivery:
        return self._delivery

    @property
    def context(self) -> GraphContext:
        return self._context

    async def delivery_idle(self) -> None:
        """Wait until every pending notification was delivered or dropped."""
        await self._delivery.idle()

    def fire_lifecycle(self, subscription_id: str, event: str) -> None:
        self._delivery.fire_lifecycle(self._context.subscriptions.get(subscription_id), event)

    def expire_delta_tokens(self) -> None:
        self._context.delta_tokens.expire_all()

    def arm_delta_gone(self, count: int = 1) -> None:
        self._context.gone_remaining += count

    def advance_clock(self, seconds: float) -> float:
        return advance_clock(self._context, seconds)

    def info(self) -> dict[str, Any]:
        tenant = self.config.tenant
        info: dict[str, Any] = {
            "url": self.url,
            "graph_url": self.graph_url,
            "authority": self.authority,
            "token_url": f"{self.authority}/oauth2/v2.0/token",
            "tenant_id": tenant.tenant_id,
            "domain": tenant.domain,
            "initial_domain": tenant.initial_domain,
            "client_id": tenant.client_id,
            "client_secret": tenant.client_secret,
            "admin_upn": tenant.admin_upn,
            "ca_path": self.ca_path,
        }
        if self.config.control_enabled:
            info["control_url"] = f"{self.url}{CONTROL_PREFIX}"
            info["console_url"] = f"{self.url}/console"
        return info
