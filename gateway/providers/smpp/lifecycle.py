"""The SMPP link over the life of the app: one bind per process that runs the workers.

When ``sms.provider`` is ``smpp`` and this process runs the background workers,
a cleanup context starts :class:`~gateway.providers.smpp.link.SmppLink` at
``app[SMPP_LINK]`` (inbound texts go to the SMS commands, receipts and submit
outcomes to ``sms_messages``), exports its metrics, and unbinds at stop. The SMS
sender of the outbox dispatcher finds the link through :func:`link_of`.
"""
from __future__ import annotations

from typing import AsyncIterator, Callable

from aiohttp import web

from billing_core.context import Billing
from billing_core.db import sms_store
from gateway.keys import BILLING, METRICS, SETTINGS, WORKERS
from gateway.providers.smpp.inbound import PROVIDER, DeliverHandler
from gateway.providers.smpp.link import STATE_VALUES, Outcome, SmppLink, refusal
from gateway.providers.smpp.session import LinkConfig

SMPP_LINK = web.AppKey("smpp_link", SmppLink)


def setup(app: web.Application) -> None:
    if app[SETTINGS].sms.provider == "smpp":
        app.cleanup_ctx.append(_link)


def link_of(app: web.Application) -> Callable[[], SmppLink | None]:
    """The running link of ``app``, looked up when a message is sent (None: not running here)."""
    return lambda: app.get(SMPP_LINK)


def config_of(settings) -> LinkConfig:
    s = settings.smpp
    return LinkConfig(host=s.host, port=s.port, system_id=s.system_id, password=s.password.reveal(),
                      system_type=s.system_type, rate_per_s=s.rate_per_s, window=s.window,
                      enquire_link_s=s.enquire_link_s, timeout_s=s.timeout_s)


def recorder(billing: Billing):
    """``on_outcomes`` for the link: accepted parts become ``sent``, refused ones ``failed``."""
    def record(conn, outcomes: list[Outcome], now: int) -> None:
        sent = [sms_store.Sent(*o.submission.tag, o.message_id) for o in outcomes
                if o.accepted and o.submission.tag is not None]
        sms_store.mark_sent(conn, PROVIDER, sent, now)
        for o in outcomes:
            if not o.accepted and o.submission.tag is not None:
                sms_store.mark_failed(conn, *o.submission.tag, refusal(o.status)[0], now)

    async def on_outcomes(outcomes: list[Outcome]) -> None:
        if any(o.submission.tag is not None for o in outcomes):
            await billing.db.write(record, outcomes, billing.now())

    return on_outcomes


async def _link(app: web.Application) -> AsyncIterator[None]:
    if not app[WORKERS]:
        yield
        return
    settings = app[SETTINGS]
    handler = DeliverHandler(app)
    link = SmppLink(config_of(settings), on_deliver=handler, on_outcomes=recorder(app[BILLING]))
    app[SMPP_LINK] = link
    _metrics(app, link, handler)
    await link.start()
    yield
    await link.stop(settings.server.shutdown_timeout_s)


def _metrics(app: web.Application, link: SmppLink, handler: DeliverHandler) -> None:
    gauge = app[METRICS].gauge
    gauge("tvtopup_smpp_link_state", "SMPP link: 0 down, 1 binding, 2 bound", lambda: STATE_VALUES[link.state])
    gauge("tvtopup_smpp_binds", "Successful SMPP binds by this process", lambda: link.binds)
    gauge("tvtopup_smpp_bind_failures", "SMPP binds refused or failed", lambda: link.bind_failures)
    gauge("tvtopup_smpp_submitted", "submit_sm accepted by the SMSC", lambda: link.submitted)
    gauge("tvtopup_smpp_refused", "submit_sm refused by the SMSC", lambda: link.refused)
    gauge("tvtopup_smpp_throttled", "submit_sm answered ESME_RTHROTTLED or ESME_RMSGQFUL", lambda: link.throttled)
    gauge("tvtopup_smpp_waiting", "Messages queued for the SMSC or awaiting its answer", link.waiting)
    gauge("tvtopup_smpp_receipts", "Delivery receipts received", lambda: handler.receipts)
    gauge("tvtopup_smpp_receipts_unmatched", "Delivery receipts for no known message", lambda: handler.receipts_unmatched)
    gauge("tvtopup_smpp_inbound", "Texts received from phones", lambda: handler.texts)
