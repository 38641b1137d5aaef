"""Logging: JSON lines, redaction of secrets wherever they appear."""

from __future__ import annotations

import ast
import io
import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog

from worker.logs import REDACTED, configure_logging, redact


@pytest.fixture(autouse=True)
def _reset_logging() -> Iterator[None]:
    yield
    structlog.reset_defaults()
    logging.getLogger().handlers[:] = []


def _lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def test_json_lines_with_iso_utc_timestamps_and_context() -> None:
    """Not a TTY: one JSON object per line, ISO UTC time, bound context variables included."""
    stream = io.StringIO()
    configure_logging(None, "info", stream=stream)
    structlog.contextvars.bind_contextvars(link="contoso")
    try:
        structlog.get_logger("t").info("round.finished", actions=3)
    finally:
        structlog.contextvars.clear_contextvars()
    (line,) = _lines(stream)
    assert line["event"] == "round.finished"
    assert line["link"] == "contoso"
    assert line["actions"] == 3
    assert str(line["timestamp"]).endswith("Z")


def test_secrets_are_redacted_at_any_depth() -> None:
    """Known secret keys are masked in nested dicts, lists and query strings."""
    stream = io.StringIO()
    configure_logging("json", "info", stream=stream)
    structlog.get_logger("t").info(
        "token",
        client_secret="s3cr3t",
        response={"access_token": "eyJ.a.b", "nested": [{"refresh_token": "rt", "ok": 1}]},
        headers={"Authorization": "Bearer eyJabc"},
        url="https://x/cb?code=abc123&state=1",
        clientState="cs-secret",
    )
    text = stream.getvalue()
    for secret in ("s3cr3t", "eyJ.a.b", 'rt"', "eyJabc", "abc123", "cs-secret"):
        assert secret not in text
    (line,) = _lines(stream)
    assert line["client_secret"] == REDACTED
    assert line["url"] == f"https://x/cb?code={REDACTED}&state=1"


def test_stdlib_loggers_go_through_the_same_pipeline() -> None:
    """A stdlib logger (aiohttp's, MSAL's) comes out as JSON with redaction too."""
    stream = io.StringIO()
    configure_logging("json", "info", stream=stream)
    logging.getLogger("aiohttp.access").warning("GET /cb?code=xyz987")
    (line,) = _lines(stream)
    assert "xyz987" not in line["event"]
    assert line["level"] == "warning"


def test_redact_leaves_ordinary_values_alone() -> None:
    """Redaction only touches secrets."""
    value = {"user": "ann@contoso.example", "count": 3, "items": ["a", "b"]}
    assert redact(value) == value


async def test_each_request_gets_an_id_in_its_log_lines_and_response(
    aiohttp_client: Any, db: Any
) -> None:
    """The access line and the X-Request-Id header carry the same per-request id."""
    from cli.app import create_daemon_app
    from worker.settings import Settings

    stream = io.StringIO()
    configure_logging("json", "info", stream=stream)
    client = await aiohttp_client(create_daemon_app(Settings(), db=db))
    first = await client.get("/healthz")
    second = await client.get("/healthz")
    ids = [first.headers["X-Request-Id"], second.headers["X-Request-Id"]]
    assert ids[0] != ids[1]
    access = [line for line in _lines(stream) if "access" in str(line.get("logger"))]
    assert [line["request_id"] for line in access] == ids


EVENT_NAME = re.compile(r"^[a-z]+(\.[a-z_]+)+$")
LOG_METHODS = frozenset({"debug", "info", "warning", "error", "exception", "critical"})


def test_every_log_event_name_follows_the_convention() -> None:
    """docs/architecture.md: event names are `area.event` (lower case, dots and
    underscores), with the details in fields. Checked over every log call of the product."""
    root = Path(__file__).resolve().parent.parent
    names: dict[str, str] = {}
    for package in ("admin", "cli", "edge", "webhook", "worker", "store"):
        for path in sorted((root / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if not (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and node.func.attr in LOG_METHODS
                    and _is_logger(node.func.value)
                    and node.args
                    and isinstance(node.args[0], ast.Constant)
                    and isinstance(node.args[0].value, str)
                ):
                    continue
                names[f"{path.relative_to(root)}:{node.lineno}"] = node.args[0].value
    assert len(names) > 40
    wrong = {where: name for where, name in names.items() if not EVENT_NAME.match(name)}
    assert not wrong, wrong


def _is_logger(node: ast.expr) -> bool:
    if isinstance(node, ast.Name):
        return node.id in ("log", "logger")
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "get_logger"
    )
