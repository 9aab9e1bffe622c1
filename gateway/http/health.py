"""Operations endpoints: liveness, readiness and Prometheus metrics."""
from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from gateway.keys import BILLING, METRICS, REDIS

log = logging.getLogger(__name__)
routes = web.RouteTableDef()
CHECK_TIMEOUT_S = 2.0


@routes.get("/healthz")
async def healthz(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    checks = {"database": await _check(request.app[BILLING].db.ping())}
    redis = request.app.get(REDIS)
    checks["redis"] = await _check(redis.ping()) if redis is not None else "disabled"
    ready = all(v in ("ok", "disabled") for v in checks.values())
    return web.json_response({"status": "ok" if ready else "unavailable", **checks}, status=200 if ready else 503)


async def _check(awaitable) -> str:
    try:
        await asyncio.wait_for(awaitable, CHECK_TIMEOUT_S)
        return "ok"
    except Exception as exc:  # readiness reports any failure; it never raises
        log.warning("readiness check failed: %s", type(exc).__name__)
        return "unavailable"


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    await _check(request.app[METRICS].refresh())
    return web.Response(body=request.app[METRICS].render(), content_type="text/plain", charset="utf-8")
