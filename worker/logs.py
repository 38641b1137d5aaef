"""structlog, configured once in `main()`.

Console lines on a TTY, JSON lines otherwise; ISO UTC timestamps; context variables
bound per request and per round; stdlib loggers (aiohttp's access log among them)
routed through the same processors; and a redactor so no secret reaches a log.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable, Mapping, MutableMapping
from typing import Any, TextIO

import structlog
from aiohttp.abc import AbstractAccessLogger
from aiohttp.web import BaseRequest, StreamResponse

REDACTED = "[redacted]"

SECRET_KEYS = frozenset(
    {
        "client_secret",
        "password",
        "access_token",
        "refresh_token",
        "id_token",
        "clientstate",
        "client_state",
        "authorization",
        "code",
        "code_verifier",
        "secret",
        "secret_key",
        "token",
        "cookie",
        "set-cookie",
        "api_token",
        "metrics_token",
        "session",
        "csrf_token",
        "validationtoken",
    }
)

# Secrets also travel inside strings: query strings, headers copied into messages.
_INLINE_SECRET = re.compile(
    r"(?i)(\b(?:client_secret|password|access_token|refresh_token|code|code_verifier|"
    r"clientState|validationToken|token)=)[^&\s\"']+"
)
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+")


def redact(value: Any, *, _depth: int = 0) -> Any:
    """Return `value` with known secret keys masked, recursively."""
    if _depth > 8:
        return value
    if isinstance(value, Mapping):
        return {
            k: REDACTED
            if isinstance(k, str) and k.lower() in SECRET_KEYS
            else redact(v, _depth=_depth + 1)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return type(value)(redact(v, _depth=_depth + 1) for v in value)
    if isinstance(value, str):
        return _BEARER.sub(r"\1 " + REDACTED, _INLINE_SECRET.sub(r"\1" + REDACTED, value))
    return value


def redact_secrets(
    logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor applying `redact` to every key of the event."""
    for key in list(event_dict):
        if key.lower() in SECRET_KEYS:
            event_dict[key] = REDACTED
        else:
            event_dict[key] = redact(event_dict[key])
    return event_dict


def _shared_processors() -> list[Any]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact_secrets,
    ]


# Long-running processes: their log is their output.
DAEMON_COMMANDS = frozenset({"serve", "web", "worker", "demo"})


def command_logging(
    command: str, log_format: str | None, log_level: str, env: Mapping[str, str]
) -> tuple[str | None, str]:
    """The log format and level for one `m365sync` command.

    Daemons log as configured. The other commands are for people: their output is on
    stdout and their errors are one line on stderr, so an info line of the code they call
    ("link active") must not appear next to it, least of all as JSON because stderr is
    not a terminal. They log errors only, as console text, unless M365SYNC_LOG_LEVEL
    (and M365SYNC_LOG_FORMAT for the format) asks for more.
    """
    if command in DAEMON_COMMANDS or env.get("M365SYNC_LOG_LEVEL"):
        return log_format, log_level
    return log_format or "console", "error"


def configure_logging(
    log_format: str | None = None, level: str = "info", stream: TextIO | None = None
) -> None:
    """Configure structlog and the stdlib root logger. Call once, from `main()`."""
    stream = stream or sys.stdout
    if log_format is None:
        log_format = "console" if stream.isatty() else "json"
    renderer: Any
    if log_format == "console":
        renderer = structlog.dev.ConsoleRenderer(colors=stream.isatty())
    else:
        renderer = structlog.processors.JSONRenderer(sort_keys=False)
    final: Iterable[Any] = (
        [structlog.processors.dict_tracebacks, renderer] if log_format == "json" else [renderer]
    )
    numeric_level = logging.getLevelNamesMapping()[level.upper()]
    structlog.configure(
        processors=[
            *_shared_processors(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.make_filtering_bound_logger(numeric_level),
        # Not cached: module-level loggers would keep the first configuration forever,
        # which bites every test (and any embedding) that configures logging again.
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_shared_processors(),
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *final],
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(numeric_level)
    # Third-party chatter (MSAL, azure-identity's HTTP logging) stays at warning.
    for noisy in ("msal", "azure", "urllib3", "aiosqlite", "asyncio"):
        logging.getLogger(noisy).setLevel(max(numeric_level, logging.WARNING))


class AccessLogger(AbstractAccessLogger):
    """One canonical line per request. Logs the path without its query string:
    OAuth callbacks and validation handshakes carry secrets there."""

    def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
        structlog.get_logger("m365sync.access").info(
            "http.request",
            method=request.method,
            path=request.path,
            status=response.status,
            duration_ms=round(time * 1000, 2),
            remote=request.remote,
        )

    @property
    def enabled(self) -> bool:
        return self.logger.isEnabledFor(logging.INFO)
