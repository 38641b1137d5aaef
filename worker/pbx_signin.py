""" "Sign in with Microsoft" on the PBX: the Vodia manual's last step, as a link option.

The tenant setting is `mssign` ("true"/"false"): it is in the tenant settings of Vodia's
OpenAPI v70.3 (`GET /rest/domain/{d}/settings`, see shared/research/vodia-api.md); that it
is the "Sign in with Microsoft" switch is inferred from its name and its neighbours
(`google_signin_id`, `sso_login_settings`). One-way like everything else: the link's
`ms_signin` (keep | on | off) is written when the PBX differs; "keep" only reads it.
"""

from __future__ import annotations

from typing import Protocol

import structlog

from worker.errors import PermanentError

log = structlog.get_logger(__name__)

MSSIGN = "mssign"


class TenantSettings(Protocol):
    async def tenant_setting(self, name: str) -> str: ...

    async def set_tenant_setting(self, name: str, value: str) -> None: ...


async def sync_ms_signin(pbx: TenantSettings, wanted: str) -> str:
    """The switch's state once applied: "on", "off", or "unknown" (unreadable)."""
    try:
        shown = await pbx.tenant_setting(MSSIGN)
        state = "on" if shown.strip().lower() == "true" else "off"
        if wanted in ("on", "off") and wanted != state:
            await pbx.set_tenant_setting(MSSIGN, "true" if wanted == "on" else "false")
            log.info("pbx.ms_signin_set", state=wanted)
            state = wanted
    except PermanentError as exc:
        log.warning("pbx.ms_signin_failed", error=str(exc))
        return "unknown"
    return state
