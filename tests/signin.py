""" "OAuth Token" for a benchmark's links, without a browser: the emulated identity
platform signs its admin in at once and its page posts the code back (the same dance as
tests/test_e2e_delegated.py)."""

from __future__ import annotations

import re
import ssl

import aiohttp

from store import Database
from store.models import Link
from worker.graph.auth import finish_auth_code_flow, start_auth_code_flow
from worker.linkctx import StoreTokenCache, auth_config
from worker.settings import Settings

REDIRECT = "http://127.0.0.1:9/auth/token"


async def oauth_token(
    db: Database, link: Link, settings: Settings, secret: str, trust: ssl.SSLContext
) -> None:
    """What the "OAuth Token" button does: the link's MSAL cache then holds the admin."""
    config = auth_config(link, settings)
    flow = await start_auth_code_flow(config, secret, redirect_uri=REDIRECT)
    async with (
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=trust)) as http,
        http.get(flow["auth_uri"], allow_redirects=False) as response,
    ):
        page = await response.text()
    reply = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', page))
    await finish_auth_code_flow(config, secret, StoreTokenCache(db, link.id), flow, reply)
