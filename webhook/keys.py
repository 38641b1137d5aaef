"""Typed keys for what the aiohttp application owns."""

from __future__ import annotations

from aiohttp import web

from store import Database
from worker.settings import Settings
from worker.wake import Waker

SETTINGS = web.AppKey("settings", Settings)
DB = web.AppKey("db", Database)
WAKER = web.AppKey("waker", Waker)
