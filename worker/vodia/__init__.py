"""The Vodia PBX REST client (see ../shared/research/vodia-api.md)."""

from __future__ import annotations

from worker.vodia.client import ExtensionExists, VodiaClient
from worker.vodia.rows import extension_fields

__all__ = ["ExtensionExists", "VodiaClient", "extension_fields"]
