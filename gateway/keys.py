"""Typed keys for what the application holds (``app[BILLING]``)."""
from __future__ import annotations

from aiohttp import web

from billing_core.context import Billing
from config.settings import Settings
from gateway.metrics import Metrics

SETTINGS = web.AppKey("settings", Settings)
BILLING = web.AppKey("billing", Billing)
METRICS = web.AppKey("metrics", Metrics)
REDIS = web.AppKey("redis", object)  # redis.asyncio.Redis when [redis] url is set
WORKERS = web.AppKey("workers", bool)  # whether this process runs the background workers
