"""Africa's Talking USSD: ``POST /ussd/africastalking``.

AT posts a form (``sessionId, serviceCode, phoneNumber, networkCode, text``) on every
hop, ``text`` being every input of the session joined by ``*``; we answer
``text/plain`` starting ``CON `` (more to come) or ``END `` (session over), at most 182
characters, plain ASCII. A form missing its fields gets a 400. The route only trusts
the phone number because only the aggregator may call it (``ussd.callback_token`` and
``ussd.allow_ips``).
"""
from __future__ import annotations

import re
from typing import AsyncIterator

from aiohttp import web

from billing_core.errors import InvalidMsisdn
from gateway.keys import BILLING, LOCKOUTS, METRICS, SETTINGS, STATE
from gateway.providers.guard import CallbackGuard
from gateway.state.limits import RateLimit
from gateway.ussd.commands import CommandRunner, PaymentStarter, env_from_settings
from gateway.ussd.payments import starter_for
from gateway.ussd.service import UssdService
from gateway.ussd.sessions import UssdSessions
from gateway.ussd.steplog import StepLog
from ussd_menus.menus import SELF_SERVICE

PATH = "/ussd/africastalking"
FIELDS = ("sessionId", "serviceCode", "phoneNumber", "text")
SESSION_ID = re.compile(r"[A-Za-z0-9_.:\-]{1,64}")
USSD = web.AppKey("ussd_service", UssdService)
_GUARD = web.AppKey("ussd_guard", CallbackGuard)


def setup(app: web.Application) -> None:
    ussd = app[SETTINGS].ussd
    app[_GUARD] = CallbackGuard("africastalking-ussd", ussd.callback_token, ussd.allow_ips)
    app.cleanup_ctx.append(_service)
    app.router.add_post(PATH, hop)


async def hop(request: web.Request) -> web.Response:
    request.app[_GUARD].check(request)
    form = await request.post()
    missing = [name for name in FIELDS if name not in form]
    if missing:
        raise web.HTTPBadRequest(text=f"missing form fields: {', '.join(missing)}")
    sid, text = str(form["sessionId"]), str(form["text"])
    if not SESSION_ID.fullmatch(sid):
        raise web.HTTPBadRequest(text="sessionId must be 1-64 letters, digits or ._:-")
    if not text.isascii() or not text.isprintable():
        raise web.HTTPBadRequest(text="text must be printable ASCII")
    try:
        msisdn = request.app[BILLING].msisdn(str(form["phoneNumber"]))
    except InvalidMsisdn as exc:
        raise web.HTTPBadRequest(text=f"phoneNumber: {exc.detail}") from None
    reply = await request.app[USSD].hop(sid, msisdn, text)
    return web.Response(text=reply.wire(), content_type="text/plain")


async def _service(app: web.Application) -> AsyncIterator[None]:
    import asyncio

    settings, billing = app[SETTINGS], app[BILLING]
    sessions = UssdSessions(app[STATE], settings.ussd.session_ttl_s)
    payments = PaymentStarter(starter_for(app, settings.ussd.pay_provider))
    env = env_from_settings(settings)
    runner = CommandRunner(billing, app[LOCKOUTS], sessions, env, payments=payments,
                           refresh_min_interval_s=settings.tv.refresh_min_interval_s)
    steplog = StepLog(billing.db, keep_days=settings.ussd.log_days, clock=billing.clock)
    limit = RateLimit(app[STATE], "ussd", settings.ussd.steps_per_minute, 60)
    service = UssdService(SELF_SERVICE, env, sessions, runner, steplog, limit, settings.operator.default_lang,
                          billing.clock)
    app[USSD] = service
    metrics = app[METRICS]
    metrics.gauge("tvtopup_ussd_hops", "USSD hops answered by this process", lambda: service.hops)
    metrics.gauge("tvtopup_ussd_refused", "USSD hops refused (rate limit, crafted text, state down)",
                  lambda: service.refused)
    metrics.gauge("tvtopup_ussd_log_dropped", "USSD session-log rows dropped", lambda: steplog.dropped)
    metrics.gauge("tvtopup_ussd_payments_started", "Mobile-money requests started from USSD",
                  lambda: payments.started)
    stop = asyncio.Event()
    writer = asyncio.create_task(steplog.run(stop), name="ussd-steplog")
    yield
    stop.set()
    timeout_s = settings.server.shutdown_timeout_s
    await payments.close(timeout_s)
    await asyncio.wait_for(writer, timeout_s)
