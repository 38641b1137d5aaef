"""Escaping HTML building: every value is escaped unless it is already `Markup`."""

from __future__ import annotations

import html
import string
from collections.abc import Iterable
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

TEMPLATES = Path(__file__).resolve().parent / "templates"


class Markup(str):
    """Text that is already safe HTML."""

    __slots__ = ()


def esc(value: Any) -> Markup:
    if isinstance(value, Markup):
        return value
    return Markup(html.escape("" if value is None else str(value), quote=True))


def fmt(template: str, /, **values: Any) -> Markup:
    """`template` is trusted markup written in this package; every value is escaped."""
    return Markup(template.format(**{k: esc(v) for k, v in values.items()}))


def join(parts: Iterable[Any], sep: str = "") -> Markup:
    return Markup(sep.join(esc(p) for p in parts))


@cache
def _template(name: str) -> string.Template:
    return string.Template((TEMPLATES / name).read_text(encoding="utf-8"))


def page(name: str, /, **values: Any) -> Markup:
    """Fill a template file from admin/templates; values are escaped unless Markup."""
    return Markup(_template(name).substitute({k: esc(v) for k, v in values.items()}))


def when(epoch_s: float | None) -> str:
    if not epoch_s:
        return "never"
    return datetime.fromtimestamp(epoch_s, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def options(choices: Iterable[tuple[str, str]], selected: str) -> Markup:
    return join(
        fmt(
            '<option value="{v}"{s}>{label}</option>',
            v=value,
            s=Markup(" selected") if value == selected else "",
            label=label,
        )
        for value, label in choices
    )


def when_html(epoch_s: float | None) -> Markup:
    """`when` as a <time> that never wraps mid-value (CSS .nowrap)."""
    if not epoch_s:
        return Markup("never")
    iso = datetime.fromtimestamp(epoch_s, UTC).isoformat()
    return fmt('<time class="nowrap" datetime="{iso}">{t}</time>', iso=iso, t=when(epoch_s))
