"""Turning Automatic Extension Creation on catches up the users already waiting: a full
comparison is queued at once (otherwise they would wait for the next 12-hour sweep)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from admin.common import flash
from store.models import Link, LinkState
from worker.adminaudit import catch_up_waiting
from worker.appkeys import DB, WAKER

CATCH_UP_TEXT = (
    "Automatic Extension Creation is on: the users waiting for an extension get one now"
    " (see Activity in a moment)."
)


async def catch_up_after_change(
    request: web.Request, link: Link, before: Mapping[str, Any], after: Mapping[str, Any]
) -> bool:
    """True when auto-create was just turned on for an active link and a catch-up was queued."""
    turned_on = after.get("auto_create") is True and not before.get("auto_create")
    if not turned_on or link.state is not LinkState.ACTIVE:
        return False
    await catch_up_waiting(request.config_dict[DB], link)
    waker = request.config_dict.get(WAKER)
    if waker is not None:
        waker.wake({link.id})
    flash(request, "ok", CATCH_UP_TEXT)
    return True
