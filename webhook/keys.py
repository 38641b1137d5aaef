"""Typed keys for what the aiohttp application owns."""

from __future__ import annotations

from aiohttp import web

from store import Database
from worker.settings import Settings

SETTINGS = web.AppKey("settings", Settings)
DB = web.AppKey("db", Database)
