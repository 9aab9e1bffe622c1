"""Typed keys for what the application holds (``app[BILLING]``)."""
from __future__ import annotations

from aiohttp import web

from billing_core.context import Billing
from config.settings import Settings
from gateway.metrics import Metrics
from gateway.state import StateLockouts

SETTINGS = web.AppKey("settings", Settings)
BILLING = web.AppKey("billing", Billing)
METRICS = web.AppKey("metrics", Metrics)
REDIS = web.AppKey("redis", object)  # redis.asyncio.Redis when [redis] url is set
WORKERS = web.AppKey("workers", bool)  # whether this process runs the background workers
STATE = web.AppKey("state", object)  # gateway.state.State: sessions, rate limits, nonces (Redis or in-process)
LOCKOUTS = web.AppKey("lockouts", StateLockouts)  # a cache of wrong-PIN locks on STATE (the locks are in the database)
