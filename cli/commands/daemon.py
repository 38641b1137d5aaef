"""`serve`, `web` and `worker`: the long-running processes."""

from __future__ import annotations

import argparse
import asyncio
import signal
import ssl
import sys

import structlog
from aiohttp import web

from cli.app import create_daemon_app
from cli.commands.parsers import Subcommands
from cli.serving import serve_split
from store import open_store
from worker.logs import AccessLogger
from worker.settings import Settings

log = structlog.get_logger("m365sync")

# The main variables; docs/environment.md has all of them with their defaults.
ENVIRONMENT_HELP = """\
environment (all of them, with defaults: docs/environment.md):
  M365SYNC_DATA_DIR       database and key file directory (default ./data)
  M365SYNC_DATABASE       the SQLite file (default $M365SYNC_DATA_DIR/m365sync.db)
  M365SYNC_DATABASE_URL   postgresql://... : several instances on one PostgreSQL
                          database instead of the SQLite file
  M365SYNC_LISTEN         HOST:PORT to listen on (default 127.0.0.1:8080); PORT overrides
  M365SYNC_ADMIN_LISTEN   HOST:PORT of a private listener for the admin page, API,
                          /readyz and /metrics; the public one keeps Graph, OAuth, /healthz
  M365SYNC_METRICS_TOKEN  bearer token /metrics requires
  M365SYNC_PUBLIC_URL     https:// address Microsoft Graph and browsers reach; without it
                          no change notifications, only sweeps
  M365SYNC_SECRET_KEY     key encrypting stored secrets (m365sync keygen); else a key file
  M365SYNC_TLS_CERT, M365SYNC_TLS_KEY   serve HTTPS directly
  M365SYNC_CA_BUNDLE      extra CA bundle for Microsoft, the PBX and the mail relay
  M365SYNC_SMTP_URL, M365SYNC_ALERT_FROM   alert mail relay and sender
  M365SYNC_LOG_FORMAT, M365SYNC_LOG_LEVEL  json|console, debug|info|warning|error
  M365SYNC_WORKER_LEASE_S, M365SYNC_WORKER_POLL_S   worker lease and poll interval
"""


def register(sub: Subcommands) -> None:
    for name, handler, summary, description in (
        (
            "serve",
            run_serve,
            "run the daemon: web endpoints and the worker in one process",
            "Run the daemon: the webhook, the admin page and the worker in one\n"
            "process. It is configured by environment variables only.",
        ),
        ("web", run_web, "run only the web endpoints (split deployments)", None),
        ("worker", run_worker, "run only the worker (split deployments)", None),
    ):
        # Each process kind reads the same environment: its --help lists it.
        sub.add_parser(
            name,
            help=summary,
            description=description,
            epilog=ENVIRONMENT_HELP,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        ).set_defaults(handler=handler)


def _server_ssl(settings: Settings) -> ssl.SSLContext | None:
    if settings.tls_cert is None or settings.tls_key is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(settings.tls_cert, settings.tls_key)
    return context


def _run_app(app: web.Application, settings: Settings) -> int:
    ssl_context = _server_ssl(settings)
    scheme = "https" if ssl_context else "http"
    log.info(
        "daemon.listening",
        url=f"{scheme}://{settings.listen_host}:{settings.listen_port}",
        database=settings.store_label,
    )
    try:
        _serve(app, settings, ssl_context)
    except OSError as exc:
        # A taken port or a missing permission: one line, not a traceback.
        where = f"{settings.listen_host}:{settings.listen_port}"
        if settings.admin_listen is not None:
            where += " and {}:{}".format(*settings.admin_listen)
        print(f"m365sync: cannot listen on {where}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    log.info("daemon.stopped")
    return 0


def _serve(app: web.Application, settings: Settings, ssl_context: ssl.SSLContext | None) -> None:
    if settings.admin_listen is not None:
        asyncio.run(serve_split(app, settings, ssl_context))
        return
    web.run_app(
        app,
        host=settings.listen_host,
        port=settings.listen_port,
        ssl_context=ssl_context,
        access_log_class=AccessLogger,
        print=None,
        shutdown_timeout=10.0,
    )


def run_serve(args: argparse.Namespace, settings: Settings) -> int:
    return _run_app(create_daemon_app(settings, run_worker=True), settings)


def run_web(args: argparse.Namespace, settings: Settings) -> int:
    return _run_app(create_daemon_app(settings, run_worker=False), settings)


def run_worker(args: argparse.Namespace, settings: Settings) -> int:
    asyncio.run(_worker_main(settings))
    return 0


async def _worker_main(settings: Settings) -> None:
    from worker.engine import build_engine

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    db = await open_store(
        settings.store_location,
        secret_key=settings.secret_key,
        key_file=settings.key_file,
        synchronous=settings.sqlite_synchronous,
    )
    try:
        log.info("worker.started", database=settings.store_label)
        await build_engine(db, settings).run(stop)
    finally:
        await db.close()
        log.info("worker.stopped")
