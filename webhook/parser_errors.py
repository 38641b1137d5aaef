"""Malformed HTTP that aiohttp's own parser refuses (broken chunked framing, two
Content-Lengths, a request line over 8 KiB, ...) never reaches our middlewares: aiohttp
answers 400 itself and logs "Error handling request" at ERROR with a traceback. On a port
facing the Internet that is noise an attacker can produce at will, and it is not counted.

A filter on aiohttp's server logger is the one hook aiohttp offers for these: it counts
each one (m365sync_refused_requests_total{surface="http", reason="bad_http"}) and turns
the record into one WARNING line without the traceback or the offending bytes.
"""

from __future__ import annotations

import logging

from aiohttp.http_exceptions import HttpProcessingError

from worker.metrics import REFUSED_REQUESTS

SERVER_LOGGER = "aiohttp.server"


class ParserErrorFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError) and 400 <= (exc.code or 0) < 500:
            REFUSED_REQUESTS.labels(surface="http", reason="bad_http").inc()
            record.msg = "malformed HTTP request refused (%s %s)"
            record.args = (exc.code, type(exc).__name__)
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            record.exc_info, record.exc_text = None, None
        return True


def install() -> None:
    """Idempotent: every app built in this process shares the one filter."""
    logger = logging.getLogger(SERVER_LOGGER)
    if not any(isinstance(f, ParserErrorFilter) for f in logger.filters):
        logger.addFilter(ParserErrorFilter())
