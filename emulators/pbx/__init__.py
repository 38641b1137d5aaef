"""A loopback emulator of the Vodia PBX REST API (see ../shared/research/vodia-api.md)."""

from __future__ import annotations

from emulators.pbx.accounts import Account
from emulators.pbx.config import PbxEmulatorConfig
from emulators.pbx.server import PbxEmulator
from emulators.pbx.state import PbxState, Tenant

__all__ = ["Account", "PbxEmulator", "PbxEmulatorConfig", "PbxState", "Tenant"]
