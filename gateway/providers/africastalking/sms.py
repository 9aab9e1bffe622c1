"""Africa's Talking SMS callbacks: texts from phones, and delivery reports of what we sent.

- ``POST /sms/africastalking/inbound``, form ``from, to, text, date, id, linkId``
  (``linkId`` only for premium numbers, ``date`` informative): the text goes to
  ``gateway.sms.inbound.handle_inbound(…, channel="africastalking", message_id=id)``,
  which queues the reply through the outbox. The answer is 200 with the reply as
  ``text/plain`` (AT ignores the body; ``tvtopup sms-sim`` prints it), empty when
  nothing is answered. A form without ``from``, ``to``, ``text`` or ``id``: 400.
- ``POST /sms/africastalking/delivery``, form ``id, status, phoneNumber,
  networkCode, failureReason, retryCount``: updates the message AT gave that id
  (``sms_messages``). ``Sent``, ``Submitted`` and ``Buffered`` are on the way;
  ``Success`` is delivered, ``Rejected`` and ``Failed`` failed (the last three are
  final). 200 once stored, also for an id we never sent (logged); 400 for a form
  without ``id`` or with an unknown ``status``.

Both are guarded like the payment notifications: ``?token=`` must carry
``africastalking.sms_callback_token`` (when set), and with
``africastalking.sms_allow_ips`` set, calls from other addresses get 403.
"""
from __future__ import annotations

import logging

from aiohttp import web

from billing_core.db import sms_store
from billing_core.phones import mask
from gateway.keys import BILLING, SETTINGS
from gateway.providers.guard import CallbackGuard

log = logging.getLogger("tvtopup.africastalking")

INBOUND_PATH = "/sms/africastalking/inbound"
DELIVERY_PATH = "/sms/africastalking/delivery"
PROVIDER = "africastalking"
INBOUND_FIELDS = ("from", "to", "text", "id")
TEXT_MAX = 1600  # ten concatenated SMS; AT joins long texts before posting them
# AT's delivery statuses and ours
STATUSES = {"Sent": "sent", "Submitted": "sent", "Buffered": "sent", "Rejected": "failed", "Success": "delivered",
            "Failed": "failed"}
_GUARD = web.AppKey("africastalking_sms_guard", CallbackGuard)


def setup(app: web.Application) -> None:
    at = app[SETTINGS].africastalking
    app[_GUARD] = CallbackGuard("africastalking-sms", at.sms_callback_token, at.sms_allow_ips)
    app.router.add_post(INBOUND_PATH, inbound)
    app.router.add_post(DELIVERY_PATH, delivery)


async def inbound(request: web.Request) -> web.Response:
    request.app[_GUARD].check(request)
    form = await request.post()
    missing = [name for name in INBOUND_FIELDS if not isinstance(form.get(name), str)]
    if missing:
        raise web.HTTPBadRequest(text=f"not an inbound SMS: missing {', '.join(missing)}")
    text, message_id = str(form["text"]), str(form["id"])
    if len(text) > TEXT_MAX or len(message_id) > 128:
        raise web.HTTPBadRequest(text="not an inbound SMS: text or id too long")
    msisdn = request.app[BILLING].msisdn(str(form["from"]))  # InvalidMsisdn: 400
    from gateway.sms import inbound as commands  # looked up per call: the command layer is its own module

    reply = await commands.handle_inbound(request.app, msisdn, text, channel=PROVIDER, to=str(form["to"]),
                                          message_id=message_id)
    return web.Response(text=reply or "", content_type="text/plain")


async def delivery(request: web.Request) -> web.Response:
    request.app[_GUARD].check(request)
    form = await request.post()
    message_id, state = str(form.get("id") or ""), str(form.get("status") or "")
    if not message_id or len(message_id) > 64:
        raise web.HTTPBadRequest(text="not a delivery report: missing or overlong id")
    if state not in STATUSES:
        raise web.HTTPBadRequest(text=f"not a delivery report: unknown status {state[:32]!r}")
    status = STATUSES[state]
    error = str(form.get("failureReason") or state) if status == "failed" else ""
    billing = request.app[BILLING]
    found = await billing.db.write(sms_store.apply_receipt, PROVIDER, message_id, status, state, error, billing.now())
    if not found:
        log.warning("AT delivery report for unknown message %s (%s, %s)", message_id[:64], state,
                    mask(str(form.get("phoneNumber") or "")))
    return web.Response(text="", content_type="text/plain")
