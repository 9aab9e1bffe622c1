"""``tvtopup serve``: migrate, then serve until SIGINT or SIGTERM, closing cleanly."""
from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from billing_core.db.migrate import upgrade
from config.settings import Settings
from gateway.app import create_app
from gateway.logs import setup_logging

log = logging.getLogger("tvtopup")


def serve(settings: Settings, *, host: str | None = None, port: int | None = None) -> int:
    setup_logging(settings.logging.level, settings.logging.format)
    host = host or settings.server.host
    port = port or settings.server.port
    asyncio.run(upgrade(settings.database.url))
    log.info("database at %s is up to date", settings.redacted()["database"]["url"])
    log.info("tv adapter %s, sms provider %s, redis %s", settings.tv.adapter, settings.sms.provider,
             "on" if settings.redis.url else "off (in-process state, one process only)")
    web.run_app(create_app(settings), host=host, port=port, shutdown_timeout=settings.server.shutdown_timeout_s,
                print=lambda msg: log.info("%s", msg.strip()), access_log=None, handle_signals=True)
    log.info("stopped")
    return 0
