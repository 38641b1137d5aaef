"""Typed keys for what the aiohttp application owns."""

from __future__ import annotations

import asyncio

from aiohttp import web

from store import Database
from webhook.subscription_cache import SubscriptionCache
from worker.engine import Engine
from worker.settings import Settings
from worker.wake import Waker

SETTINGS = web.AppKey("settings", Settings)
DB = web.AppKey("db", Database)
WAKER = web.AppKey("waker", Waker)
SUBSCRIPTIONS = web.AppKey("subscriptions", SubscriptionCache)
ENGINE = web.AppKey("engine", Engine)  # only when the worker runs in-process
ENGINE_TASK = web.AppKey("engine_task", asyncio.Task[None])
