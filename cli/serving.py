"""Serving the daemon's application on its listeners: one, or with M365SYNC_ADMIN_LISTEN
a private one beside the public one (edge/listeners.py says which serves what)."""

from __future__ import annotations

import asyncio
import signal
import ssl
from dataclasses import dataclass

import structlog
from aiohttp import web

from edge.listeners import LISTENERS
from worker.logs import AccessLogger
from worker.settings import Settings

log = structlog.get_logger("m365sync")

SHUTDOWN_TIMEOUT_S = 10.0


@dataclass(frozen=True, slots=True)
class Bound:
    public: list[tuple[str, int]]
    private: list[tuple[str, int]]


async def start_listeners(
    runner: web.AppRunner, settings: Settings, ssl_context: ssl.SSLContext | None
) -> Bound:
    """Bind the private listener first, so its ports are known before the public one
    takes a connection (a port not known as private is treated as public)."""
    private: list[tuple[str, int]] = []
    if settings.admin_listen is not None:
        host, port = settings.admin_listen
        # Plain HTTP: the private listener is meant for loopback or a private network.
        await web.TCPSite(runner, host, port).start()
        private = _addresses(runner.addresses)
        runner.app[LISTENERS].add_private(private)
    await web.TCPSite(
        runner,
        settings.listen_host,
        settings.listen_port,
        ssl_context=ssl_context,
    ).start()
    public = [a for a in _addresses(runner.addresses) if a not in private]
    return Bound(public=public, private=private)


def _addresses(addresses: list[object]) -> list[tuple[str, int]]:
    return [(str(a[0]), int(a[1])) for a in addresses if isinstance(a, tuple) and len(a) >= 2]


async def serve_split(
    app: web.Application, settings: Settings, ssl_context: ssl.SSLContext | None
) -> None:
    """Run until SIGINT or SIGTERM (what web.run_app does for one listener)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    runner = web.AppRunner(app, access_log_class=AccessLogger, shutdown_timeout=SHUTDOWN_TIMEOUT_S)
    await runner.setup()
    try:
        bound = await start_listeners(runner, settings, ssl_context)
        log.info("daemon.listening_split", public=bound.public, private=bound.private)
        await stop.wait()
    finally:
        await runner.cleanup()
