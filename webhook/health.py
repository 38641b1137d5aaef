"""Liveness, readiness and the Prometheus scrape endpoint."""

from __future__ import annotations

import asyncio
import hmac
from dataclasses import dataclass

import structlog
from aiohttp import web
from prometheus_client import REGISTRY
from prometheus_client.exposition import choose_encoder

from webhook.keys import DB, ENGINE, ENGINE_TASK, SETTINGS
from worker.engine import Engine

log = structlog.get_logger("m365sync.health")

STORE_PROBE_TIMEOUT_S = 2.0
# The loop goes round every poll interval (2 s); maintenance may take a while on a slow
# Graph, so only a loop silent for minutes counts as stalled.
WORKER_STALL_S = 180.0


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    detail: str


async def healthz(request: web.Request) -> web.Response:
    """The process is alive and serving HTTP."""
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """Ready for work: the store takes a write, and an in-process worker loop is going round."""
    checks = [await _store_check(request.app)]
    if ENGINE in request.app:
        checks.append(worker_check(request.app[ENGINE], request.app.get(ENGINE_TASK)))
    ready = all(c.ok for c in checks)
    if not ready:
        log.warning("health.not_ready", failed=[c.name for c in checks if not c.ok])
    return web.json_response(
        {
            "status": "ok" if ready else "unavailable",
            "checks": {c.name: {"ok": c.ok, "detail": c.detail} for c in checks},
        },
        status=200 if ready else 503,
    )


async def metrics(request: web.Request) -> web.Response:
    """Prometheus exposition of the process-wide registry, in the format the scraper asks for
    (text 0.0.4 by default; OpenMetrics when its Accept header says so). With
    M365SYNC_METRICS_TOKEN the scraper must send it as a bearer token (Prometheus:
    `authorization: {credentials: ...}`)."""
    token = request.app[SETTINGS].metrics_token
    if token is not None and not _bearer_matches(request, token):
        log.info("metrics.refused")
        raise web.HTTPUnauthorized(
            headers={"WWW-Authenticate": 'Bearer realm="m365sync metrics"'},
            text="a bearer token is required",
        )
    encode, content_type = choose_encoder(request.headers.get("Accept", ""))
    response = web.Response(body=encode(REGISTRY))
    response.headers["Content-Type"] = content_type
    return response


def _bearer_matches(request: web.Request, token: str) -> bool:
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return False
    # Compared as bytes in constant time: a timing difference must not spell the token.
    return hmac.compare_digest(given.strip().encode(), token.encode())


async def _store_check(app: web.Application) -> Check:
    try:
        async with asyncio.timeout(STORE_PROBE_TIMEOUT_S):
            await app[DB].probe_write()
    except TimeoutError:
        return Check("store", False, f"no write within {STORE_PROBE_TIMEOUT_S:g} s")
    except Exception as exc:
        return Check("store", False, f"write failed: {type(exc).__name__}")
    return Check("store", True, "writable")


def worker_check(engine: Engine, task: asyncio.Task[None] | None) -> Check:
    if task is not None and task.done():
        return Check("worker", False, "the worker loop has stopped")
    if engine.last_loop_at <= 0:
        return Check("worker", False, "the worker loop has not started yet")
    silent_s = engine.ctx.clock() - engine.last_loop_at
    if silent_s > WORKER_STALL_S:
        return Check("worker", False, f"the worker loop is stalled ({silent_s:.0f} s silent)")
    return Check("worker", True, f"last went round {max(0.0, silent_s):.1f} s ago")
