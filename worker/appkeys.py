"""Typed keys of what the daemon's aiohttp applications share.

The webhook application owns these; the admin applications mounted under it read them
through `request.config_dict`, which looks them up in the parent.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from store import Database
from worker.engine import Engine
from worker.settings import Settings
from worker.wake import Waker

SETTINGS = web.AppKey("settings", Settings)
DB = web.AppKey("db", Database)
WAKER = web.AppKey("waker", Waker)
ENGINE = web.AppKey("engine", Engine)  # only when the worker runs in-process
ENGINE_TASK = web.AppKey("engine_task", asyncio.Task[None])
