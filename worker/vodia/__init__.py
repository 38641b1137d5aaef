"""The Vodia PBX REST client (see ../shared/research/vodia-api.md)."""

from __future__ import annotations

from worker.vodia.client import ExtensionExists, PbxAccounts, VodiaClient
from worker.vodia.rows import extension_fields

__all__ = ["ExtensionExists", "PbxAccounts", "VodiaClient", "extension_fields"]
