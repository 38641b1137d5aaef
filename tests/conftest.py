"""Shared fixtures. Area-specific fixtures live in tests/plugins/ and are listed here."""

from __future__ import annotations

pytest_plugins: list[str] = [
    "tests.plugins.identity",
    "tests.plugins.postgres",
    "tests.plugins.store",
    "tests.plugins.pipeline",
    "tests.plugins.pbx_emulator",
    "tests.plugins.graph_emulator",
    "tests.plugins.browser",
    "tests.plugins.doctor",
]
