"""The Settings page's group picker: search Entra groups by name, show stored ids by name.
Reading groups needs GroupMember.Read.All (or wider); a 403 says so in those words."""

from __future__ import annotations

import asyncio

from aiohttp import web

from admin.common import link_clients, link_for
from edge.inputs import query_params
from store.models import Link
from worker.errors import GraphError, SyncError

MAX_QUERY = 100
MAX_SHOWN = 20
PERMISSION_TEXT = (
    "Microsoft 365 refused to list groups: the app registration needs the Microsoft Graph"
    " permission GroupMember.Read.All, with admin consent."
)


def _failure_text(exc: SyncError) -> str:
    if isinstance(exc, GraphError) and exc.status == 403:
        return PERMISSION_TEXT
    return f"Could not read groups from Microsoft 365: {exc}"


async def search_groups(request: web.Request) -> web.Response:
    """GET /api/links/{id}/groups?q=Sales: at most 20 groups whose name starts so."""
    link = await link_for(request)
    prefix = query_params(request).get("q", "").strip()[:MAX_QUERY]
    if not prefix:
        return web.json_response({"groups": []})
    try:
        async with link_clients(request, link) as clients:
            found = await clients.graph.search_groups(prefix, limit=MAX_SHOWN)
    except SyncError as exc:
        status = 403 if isinstance(exc, GraphError) and exc.status == 403 else 502
        return web.json_response({"error": _failure_text(exc)}, status=status)
    return web.json_response({"groups": [{"id": gid, "name": name} for gid, name in found]})


async def group_names(
    request: web.Request, link: Link, ids: tuple[str, ...]
) -> tuple[dict[str, str], str]:
    """Names of the stored group ids, and a problem to show ('' when none). An id whose
    name cannot be read is shown as the id."""
    if not ids:
        return {}, ""
    try:
        async with link_clients(request, link) as clients:
            names = await asyncio.gather(*(clients.graph.group_display_name(gid) for gid in ids))
    except SyncError as exc:
        return {}, _failure_text(exc)
    return dict(zip(ids, names, strict=True)), ""
