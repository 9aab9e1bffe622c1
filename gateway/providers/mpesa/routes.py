"""M-Pesa (Daraja) callbacks: C2B validation and confirmation, and STK push results.

Served under ``/mobile-money/daraja/`` (``c2b/validation``, ``c2b/confirmation``,
``stk/callback``), and under the old ``/mobile-money/mpesa/`` as aliases.

Each handler: guard (``?token=`` and the address list) -> parse (``wire``) -> one use
case -> Daraja's reply. A body that is not a well-formed Daraja payload gets a 400 with
``{"ResultCode": 1, "ResultDesc": reason}`` and changes nothing.

- Validation answers from one read: accept a payable card, reject an unknown one
  (``C2B00012``) or an amount we cannot credit, too small or above ``payments.max_amount``
  (``C2B00013``).
- Confirmation acknowledges only once ``record_payment`` has returned: a repeat gets the
  same acknowledgement, a payment for an unknown card is held in suspense.
- An STK result for a request we cannot find is acknowledged and logged (with the
  receipt, for reconciliation): Daraja does nothing with a refusal but count it, and the
  money shows up as provider-only in ``tvtopup reconcile mpesa``.
"""
from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from billing_core import payments
from billing_core.context import Billing
from billing_core.db.payment_store import PaymentRequest
from billing_core.errors import InvalidInput, NotFound
from billing_core.phones import mask
from gateway.http_client import CLIENT
from gateway.keys import BILLING, SETTINGS
from gateway.providers import lifecycle
from gateway.providers.guard import CallbackGuard
from gateway.providers.mpesa import stk_query, wire
from gateway.providers.mpesa.client import DARAJA, DarajaClient

log = logging.getLogger("tvtopup.mpesa")

PREFIX = "/mobile-money/daraja"
# Where the callbacks lived before: Daraja's URL registration refuses any URL containing
# "mpesa" (registration.FORBIDDEN_WORDS), so these serve only deployments registered back then.
ALIAS_PREFIX = "/mobile-money/mpesa"
GUARD = web.AppKey("mpesa_guard", CallbackGuard)
REF_MAX = 64


def setup(app: web.Application) -> None:
    """Add the M-Pesa callbacks, the Daraja client at ``app[DARAJA]`` once started, and (with
the workers) the poller that settles STK pushes by query (``stk_query``)."""
    mpesa = app[SETTINGS].mpesa
    app[GUARD] = CallbackGuard(wire.PROVIDER, mpesa.callback_token, mpesa.allow_ips)
    for prefix in (PREFIX, ALIAS_PREFIX):
        for leaf, handler in (("c2b/validation", validation), ("c2b/confirmation", confirmation),
                              ("stk/callback", stk_callback)):
            app.router.add_post(f"{prefix}/{leaf}", handler)
    # the client always exists (C2B needs no credentials); the STK query poller runs with the workers
    lifecycle.add_client(app, DARAJA, _client, stk_query.poller)


def _client(app: web.Application) -> DarajaClient:
    return DarajaClient(app[CLIENT], app[SETTINGS].mpesa, app[BILLING].clock)


def _reply(doc: dict[str, Any], status: int = 200) -> web.Response:
    return web.json_response(doc, status=status)


def _malformed(reason: str) -> web.Response:
    log.warning("malformed M-Pesa callback: %s", reason)
    return _reply(wire.malformed(reason), 400)


async def _received(request: web.Request) -> tuple[dict[str, Any], str]:
    """The guarded JSON object of a callback, and its text as received."""
    request.app[GUARD].check(request)
    if request.content_type != "application/json":
        raise wire.WireError("Content-Type must be application/json")
    body = await request.read()  # the app refuses bodies over server.max_body_bytes (413)
    return wire.decode(body), body.decode("utf-8")


# ---- C2B ------------------------------------------------------------------------------------

async def validation(request: web.Request) -> web.Response:
    try:
        payment = wire.parse_c2b((await _received(request))[0])
    except wire.BadAmount as exc:
        log.info("M-Pesa validation rejected: %s", exc.reason)
        return _reply(wire.reject(wire.REJECT_AMOUNT))
    except wire.WireError as exc:
        return _malformed(exc.reason)
    refusal = await _refusal(request.app[BILLING], payment)
    log.info("M-Pesa validation %s from %s for %r: %s", payment.trans_id, mask(payment.msisdn), payment.bill_ref,
             refusal or "accepted")
    return _reply(wire.reject(refusal) if refusal else wire.accept())


async def _refusal(billing: Billing, payment: wire.C2BPayment) -> str:
    """The rejection code for ``payment`` ('' to accept); at most one database read."""
    if wire.CURRENCY not in billing.rates or billing.rates.to_tvu(payment.amount).tvu == 0:
        return wire.REJECT_AMOUNT
    if payments.above_max_amount(billing, payment.amount):  # it would only be held: refuse it before it is paid
        return wire.REJECT_AMOUNT
    if not await payments.card_is_payable(billing, payment.bill_ref):
        return wire.REJECT_ACCOUNT
    return ""


async def confirmation(request: web.Request) -> web.Response:
    try:
        doc, raw = await _received(request)
        notice = wire.notice(wire.parse_c2b(doc), raw)
        recorded = await payments.record_payment(request.app[BILLING], notice)
    except wire.WireError as exc:
        return _malformed(exc.reason)
    except InvalidInput as exc:
        return _malformed(exc.detail or exc.code)
    if not recorded.conflict:  # a repeat that differs: record_payment has warned and flagged it
        log.info("M-Pesa %s from %s for %r: %s%s%s", notice.txid, mask(notice.msisdn), notice.account,
                 recorded.status, f" ({recorded.reason})" if recorded.reason else "",
                 ", a repeat" if recorded.duplicate else "")
    return _reply(wire.ack())


# ---- STK push results -------------------------------------------------------------------------

async def stk_callback(request: web.Request) -> web.Response:
    try:
        doc, raw = await _received(request)
        result = wire.parse_stk_callback(doc)
    except wire.WireError as exc:
        return _malformed(exc.reason)
    billing = request.app[BILLING]
    pending = await _request_for(billing, result.checkout_request_id, request.query.get("ref", ""))
    if pending is None:
        # money that moved without a request we know is for the operator: reconcile ingests it
        log.log(logging.ERROR if result.success else logging.WARNING,
                "M-Pesa STK result for unknown request %s (code %s, receipt %s, %s): not applied",
                result.checkout_request_id, result.result_code, result.receipt or "-", result.amount or "-")
        return _reply(wire.ack())
    settled, payment = await payments.settle_request(billing, pending, wire.settlement(result, raw))
    log.info("M-Pesa STK %s for card %s: %s (%s %s)%s", settled.reference, settled.card, settled.status,
             result.result_code, result.result_desc, f", payment {payment.status}" if payment else "")
    return _reply(wire.ack())


async def _request_for(billing: Billing, checkout_id: str, ref: str) -> PaymentRequest | None:
    """Our request by Daraja's CheckoutRequestID, else by the ``ref`` of our callback URL (a push
    whose answer we never got: timeout, crash); None when neither names an M-Pesa request."""
    try:
        return await payments.find_request(billing, provider=wire.PROVIDER, provider_ref=checkout_id)
    except NotFound:
        pass
    if not ref or len(ref) > REF_MAX:
        return None
    try:
        found = await payments.find_request(billing, reference=ref)
    except NotFound:
        return None
    if found.provider != wire.PROVIDER or found.provider_ref not in (None, checkout_id):
        log.warning("M-Pesa STK result %s names request %s of another push", checkout_id, ref)
        return None
    await payments.set_provider_ref(billing, ref, checkout_id)
    return found
