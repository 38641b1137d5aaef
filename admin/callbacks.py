"""The parameters Microsoft's sign-in sends back to /auth/consent and /auth/token.

These routes are public (the browser arrives cross-site, without our session cookie), so
what they receive is checked before it is used: one value per name, bounded lengths, and a
`state` shaped like ours (sessions.new_state). Anything else is a 400, never a lookup.
"""

from __future__ import annotations

import re

from aiohttp import web
from multidict import MultiMapping

from edge.inputs import BadInput, query_params, read_form

# secrets.token_urlsafe(24) is 32 characters of the URL-safe alphabet.
_STATE = re.compile(r"[A-Za-z0-9_-]{16,128}")
MAX_PARAMS = 20
# An authorization code is about 1 KiB, an id_token a few KiB; error_description is prose.
MAX_VALUE_CHARS = 16 * 1024


async def callback_params(request: web.Request) -> dict[str, str]:
    """The query string of a redirect (GET), or the body of a form_post (POST)."""
    params: MultiMapping[str]
    if request.method == "POST":
        params = await read_form(request, unique=True)
    else:
        params = query_params(request, unique=True)
    if len(params) > MAX_PARAMS:
        raise BadInput(400, "bad_callback", "too many parameters")
    values = dict(params.items())
    for key, value in values.items():
        if len(key) > 64 or len(value) > MAX_VALUE_CHARS:
            raise BadInput(400, "bad_callback", "a parameter is too long")
    state = values.get("state", "")
    if not _STATE.fullmatch(state):
        raise BadInput(
            400,
            "bad_callback",
            "This sign-in link is not valid or has expired. Start again from the Setup page.",
        )
    return values
