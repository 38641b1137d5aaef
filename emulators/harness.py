"""Both emulators at once, for tests, benchmarks, `m365sync emulate` and the demo.

async with running_emulators(state_dir, users=50, extensions=20) as emus:
    emus.graph, emus.pbx, emus.info  # info is also written to state_dir/emulator.json
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from emulators.graph.config import GraphEmulatorConfig
from emulators.graph.server import GraphEmulator
from emulators.pbx import PbxEmulator, PbxEmulatorConfig

INFO_FILE = "emulator.json"


@dataclass(frozen=True, slots=True)
class RunningEmulators:
    graph: GraphEmulator
    pbx: PbxEmulator
    info: dict[str, Any]
    info_path: Path


@asynccontextmanager
async def running_emulators(
    state_dir: Path | str,
    *,
    graph_port: int = 0,
    pbx_port: int = 0,
    users: int = 0,
    extensions: int = 0,
    seed: int = 1,
    pbx_latency_s: float = 0.0,
    graph_options: Mapping[str, Any] | None = None,
) -> AsyncIterator[RunningEmulators]:
    """`graph_options` are further `GraphEmulatorConfig` fields (switches, lag, ...)."""
    state_path = Path(state_dir)
    graph = GraphEmulator(
        GraphEmulatorConfig(
            state_dir=state_path,
            port=graph_port,
            seed_users=users,
            seed=seed,
            **dict(graph_options or {}),
        )
    )
    # Seeded extensions take their emails from the Microsoft 365 tenant's domain so that
    # they can match directory users.
    pbx = PbxEmulator(
        PbxEmulatorConfig(
            port=pbx_port,
            mail_domain=graph.config.tenant.domain,
            seed_extensions=extensions,
            seed=seed,
            latency_s=pbx_latency_s,
        )
    )
    await graph.start()
    try:
        await pbx.start()
        try:
            info = emulator_info(graph, pbx)
            info_path = write_info(state_path, info)
            yield RunningEmulators(graph=graph, pbx=pbx, info=info, info_path=info_path)
        finally:
            await pbx.stop()
    finally:
        await graph.stop()


def emulator_info(graph: GraphEmulator, pbx: PbxEmulator) -> dict[str, Any]:
    """What the product needs to connect to both; printed by `m365sync emulate`."""
    tenant = graph.config.tenant
    graph_info = graph.info()
    return {
        # Base URLs in the form a link stores them (like https://graph.microsoft.com and
        # https://login.microsoftonline.com); the emulator serves both on one origin.
        "graph_url": graph.url,
        "graph_api_url": graph.graph_url,
        "authority_url": graph.url,
        "authority": graph.authority,
        "tenant_id": tenant.tenant_id,
        "tenant_domain": tenant.domain,
        "tenant_initial_domain": tenant.initial_domain,
        "client_id": tenant.client_id,
        "client_secret": tenant.client_secret,
        "admin_upn": tenant.admin_upn,
        "ca_path": graph.ca_path,
        "graph_control_url": graph_info.get("control_url"),
        "console_url": graph_info.get("console_url"),
        **pbx.info(),
    }


def write_info(state_dir: Path, info: dict[str, Any]) -> Path:
    """Write emulator.json readable by its owner only: it holds the emulated secrets."""
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_dir / INFO_FILE
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        json.dump(info, handle, indent=2)
        handle.write("\n")
    return path
