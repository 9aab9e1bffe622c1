"""The aiohttp application: ``create_app(settings)``.

Each resource has one cleanup context that opens it and closes it: the
database, Redis (when configured), and the background workers (outbox
dispatcher, scheduler). Handlers reach them through typed app keys.

Every gateway process may run the workers: dispatchers share the outbox through
leases (no event in flight twice, in order per card) and one scheduler at a time
leads (a lease row); see ``tv_notify.dispatcher`` and ``tv_notify.scheduler``.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import AsyncIterator, Callable

from aiohttp import web

from billing_core.cards import STATS
from billing_core.context import Billing, system_clock
from billing_core.db import outbox_store
from billing_core.db.database import database_from_settings
from config.settings import Settings
from gateway.http import health
from gateway.http_client import CLIENT, client_ctx
from gateway.keys import BILLING, LOCKOUTS, METRICS, REDIS, SETTINGS, STATE, WORKERS
from gateway.providers.africastalking import routes as at_routes
from gateway.providers.airtel import routes as airtel_routes
from gateway.dealer_api import routes as dealer_routes
from gateway.admin import routes as admin_routes
from gateway.providers.mpesa import routes as mpesa_routes
from gateway.providers.mtn_momo import routes as mtn_routes
from gateway.providers.smpp import lifecycle as smpp_lifecycle
from gateway.metrics import Metrics
from gateway.sms.inbound import sms_counters
from gateway.middleware import ADMISSION, Admission, request_context
from tv_notify.dispatcher import Dispatcher
from tv_notify.scheduler import Scheduler

log = logging.getLogger("tvtopup")


def create_app(settings: Settings, *, clock: Callable[[], int] = system_clock, workers: bool = True) -> web.Application:
    """The gateway; ``workers=False`` leaves out the dispatcher and scheduler (tests, extra processes)."""
    app = web.Application(client_max_size=settings.server.max_body_bytes, middlewares=[request_context])
    app[SETTINGS] = settings
    app[METRICS] = Metrics()
    app[ADMISSION] = Admission()
    _card_metrics(app[METRICS])
    sms_counters(app[METRICS])  # registered now so the SMS counters show at zero from the start
    app[METRICS].gauge("tvtopup_http_in_flight", "Requests being handled by this process",
                       lambda: app[ADMISSION].in_flight)
    app[METRICS].gauge("tvtopup_http_shed", "Requests answered 503 at once: server.max_in_flight reached",
                       lambda: app[ADMISSION].shed)
    app[METRICS].gauge("tvtopup_http_timed_out", "Requests answered 503 after server.request_timeout_s",
                       lambda: app[ADMISSION].timed_out)
    app.cleanup_ctx.append(_database(clock))
    app.cleanup_ctx.append(client_ctx)
    if settings.redis.url:
        app.cleanup_ctx.append(_redis)
    app.cleanup_ctx.append(_state)
    if workers:
        app.cleanup_ctx.append(_workers(clock))
    app[WORKERS] = workers
    app.add_routes(health.routes)
    for setup in (mpesa_routes.setup, mtn_routes.setup, airtel_routes.setup, at_routes.setup, smpp_lifecycle.setup,
                  dealer_routes.setup, admin_routes.setup):
        setup(app)
    return app


def _card_metrics(metrics: Metrics) -> None:
    metrics.gauge("tvtopup_card_redemptions", "Scratch cards redeemed by this process", lambda: STATS.redemptions)
    metrics.gauge("tvtopup_card_pin_failures", "Wrong scratch-card PINs seen by this process",
                  lambda: STATS.pin_failures)
    metrics.gauge("tvtopup_card_pin_alarms", "Minutes in which wrong PINs across all phones passed "
                  "security.pin_spike_per_minute (the alarm is logged too)", lambda: STATS.spikes)


def _database(clock: Callable[[], int]):
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        settings = app[SETTINGS]
        db = database_from_settings(settings)
        app[BILLING] = Billing.from_settings(settings, db, clock)
        backlog = {"pending": 0, "dead": 0}
        lag = {"s": 0}

        async def refresh_backlog() -> None:
            counts, oldest = await db.read(_outbox_stats)
            backlog.update({"pending": 0, "dead": 0, **counts})
            lag["s"] = max(0, clock() - oldest) if oldest is not None else 0

        metrics = app[METRICS]
        metrics.refresher(refresh_backlog)
        metrics.gauge("tvtopup_outbox_pending", "Outbox events waiting for delivery", lambda: backlog.get("pending", 0))
        metrics.gauge("tvtopup_outbox_dead_total", "Outbox events given up (see tvtopup events)",
                      lambda: backlog.get("dead", 0))
        metrics.gauge("tvtopup_outbox_lag_seconds", "Age of the oldest pending outbox event", lambda: lag["s"])
        yield
        await db.close()

    return ctx


def _outbox_stats(conn) -> tuple[dict[str, int], int | None]:
    return outbox_store.counts(conn), outbox_store.oldest_pending_at(conn)


async def _redis(app: web.Application) -> AsyncIterator[None]:
    import redis.asyncio as aioredis

    settings = app[SETTINGS]
    client = aioredis.from_url(settings.redis.url, socket_timeout=2, socket_connect_timeout=2,
                               health_check_interval=30)
    app[REDIS] = client
    yield
    await client.aclose()


async def _state(app: web.Application) -> AsyncIterator[None]:
    """Sessions, rate limits, nonces and lockouts: Redis when configured, else this process."""
    from gateway.state import lockouts_from_settings, open_state

    state = open_state(app[SETTINGS])
    app[STATE] = state
    app[LOCKOUTS] = lockouts_from_settings(app[SETTINGS], state)
    yield
    await state.close()


def _workers(clock: Callable[[], int]):
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        settings, billing = app[SETTINGS], app[BILLING]
        dispatcher = Dispatcher.from_settings(settings, billing.db, clock, session=app[CLIENT],
                                              smpp_link=smpp_lifecycle.link_of(app))
        billing.db.add_commit_listener(dispatcher.wake, signal=outbox_store.ENQUEUED)
        scheduler = Scheduler.from_settings(settings, billing, holder=dispatcher.holder)
        metrics = app[METRICS]
        metrics.gauge("tvtopup_outbox_delivered", "Events delivered by this process", lambda: dispatcher.delivered)
        metrics.gauge("tvtopup_outbox_failures", "Failed delivery attempts by this process", lambda: dispatcher.failed)
        metrics.gauge("tvtopup_outbox_dead", "Events given up by this process", lambda: dispatcher.dead)
        metrics.gauge("tvtopup_scheduler_leader", "1 while this process runs the scheduler",
                      lambda: int(scheduler.leading))
        stop = asyncio.Event()
        tasks = [asyncio.create_task(dispatcher.run_forever(stop), name="outbox-dispatcher"),
                 asyncio.create_task(scheduler.run_forever(stop), name="scheduler")]
        yield
        stop.set()
        dispatcher.wake()
        done, pending = await asyncio.wait(tasks, timeout=settings.server.shutdown_timeout_s)
        for task in pending:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await dispatcher.close()

    return ctx
