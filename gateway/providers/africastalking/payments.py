"""Africa's Talking payment notifications: ``POST /mobile-money/africastalking/notification``.

AT posts JSON (``transactionId``, ``category``, ``provider``, ``providerRefId``,
``source``, ``value`` "KES 1000.00", ``status`` Success|Failed, ``requestMetadata``,
``clientAccount`` …) and retries anything but a 2xx every minute for six hours, so:

- a malformed body gets a 400 and changes nothing (a retry will not fix it);
- a ``Success`` of money coming in is recorded once under ``transactionId`` through
  ``record_payment`` and only then acknowledged; the card is ``clientAccount`` (what
  a C2B payer typed), else ``requestMetadata.card`` (what our checkout sent); money
  for no known card is held in suspense, never lost;
- a ``Failed`` notification, or one about money going out (B2C, transfers), is
  acknowledged and logged, and nothing is credited.

Reply: ``{"status": "ok"|"duplicate", "payment": "credited"|"suspense"}`` once
recorded (a repeat gets the first outcome), ``{"status": "failed"|"ignored"}``.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from billing_core.errors import DomainError
from billing_core.money import Money
from billing_core.payments import PaymentNotice, record_payment
from billing_core.phones import mask
from gateway.keys import BILLING, SETTINGS
from gateway.providers.guard import CallbackGuard
from gateway.providers.json_fields import TXID, WireError, raw, text_field

log = logging.getLogger("tvtopup.africastalking")
NOTIFICATION_PATH = "/mobile-money/africastalking/notification"
PROVIDER = "africastalking"
SUCCESS, FAILED = "Success", "Failed"
# Categories in which money comes to us; the others (B2C, B2B, transfers) pay out.
INCOMING = ("MobileCheckout", "MobileC2B", "BankCheckout", "CardCheckout")
_GUARD = web.AppKey("africastalking_payments_guard", CallbackGuard)


@dataclass(frozen=True, slots=True)
class Notification:
    transaction_id: str
    category: str
    status: str  # Success | Failed
    value: Money
    source: str
    account: str  # clientAccount, else requestMetadata.card; may be empty
    raw: str


def parse_notification(body: object) -> Notification:
    """AT's JSON as a :class:`Notification`; :class:`WireError` when it is not one."""
    if not isinstance(body, dict):
        raise WireError("expected a JSON object")
    txid, status = text_field(body, "transactionId"), text_field(body, "status")
    if not TXID.fullmatch(txid):
        raise WireError("transactionId must be 1-64 letters, digits or ._:-")
    if status not in (SUCCESS, FAILED):
        raise WireError(f"status must be {SUCCESS} or {FAILED}")
    try:
        value = Money.parse(text_field(body, "value"))
    except DomainError as exc:
        raise WireError(f"value: {exc.detail}") from None
    return Notification(txid, text_field(body, "category"), status, value, text_field(body, "source")[:20],
                        _account(body), raw(body))


def _account(body: dict[str, Any]) -> str:
    metadata = body.get("requestMetadata") or {}
    if not isinstance(metadata, dict):
        raise WireError("requestMetadata must be an object")
    return text_field(body, "clientAccount").strip() or text_field(metadata, "card").strip()


def notice(n: Notification) -> PaymentNotice:
    return PaymentNotice(provider=PROVIDER, txid=n.transaction_id, account=n.account, amount=n.value,
                         msisdn=n.source, raw=n.raw)


def setup(app: web.Application) -> None:
    at = app[SETTINGS].africastalking
    app[_GUARD] = CallbackGuard(PROVIDER, at.payments_callback_token, at.payments_allow_ips)
    app.router.add_post(NOTIFICATION_PATH, notification)


async def notification(request: web.Request) -> web.Response:
    request.app[_GUARD].check(request)
    try:
        n = parse_notification(json.loads(await request.read()))
    except (ValueError, WireError) as exc:
        raise web.HTTPBadRequest(text=f"not a payment notification: {exc}") from None
    if n.status != SUCCESS or n.category not in INCOMING:
        log.info("AT payment %s (%s, %s, %s) not credited", n.transaction_id, n.category, n.status, n.value)
        return web.json_response({"status": "failed" if n.status == FAILED else "ignored"})
    payment = await record_payment(request.app[BILLING], notice(n))
    log.info("AT payment %s from %s: %s %s", n.transaction_id, mask(n.source), payment.status, payment.reason)
    return web.json_response({"status": "duplicate" if payment.duplicate else "ok", "payment": payment.status})
