"""Typed keys for what the aiohttp application owns (the shared ones live in worker.appkeys)."""

from __future__ import annotations

from aiohttp import web

from webhook.subscription_cache import SubscriptionCache
from worker.appkeys import DB, ENGINE, ENGINE_TASK, SETTINGS, WAKER

__all__ = ["DB", "ENGINE", "ENGINE_TASK", "SETTINGS", "SUBSCRIPTIONS", "WAKER"]

SUBSCRIPTIONS = web.AppKey("subscriptions", SubscriptionCache)
