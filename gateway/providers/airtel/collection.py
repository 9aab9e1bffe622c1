"""Airtel Money collection in our words: ask a phone to pay for a card; settle on Airtel's word.

``start_collection`` records the request before it sends it, so a crash or a
timeout leaves a pending request the poller resolves. ``confirm`` (the callback
handler) and ``probe`` (the poller) ask Airtel by enquiry, authenticated, and only
Airtel's answer settles a request: a callback body is never believed, only taken
as a reason to ask.
"""
from __future__ import annotations

import functools
import logging
import math
import uuid
from typing import Callable

from billing_core import payments
from billing_core.context import Billing
from billing_core.db.payment_store import Payment, PaymentRequest, Settlement
from billing_core.errors import InvalidAmount, InvalidMsisdn, UnknownCard
from billing_core.money import Money
from billing_core.phones import mask
from gateway.providers import confirmation, http
from gateway.providers.airtel import wire
from gateway.providers.airtel.client import AirtelClient, AirtelError, AirtelRefused, AirtelUnavailable
from gateway.providers.poller import Poller

log = logging.getLogger("tvtopup.airtel")
PROVIDER = "airtel"


def new_reference() -> str:
    return uuid.uuid4().hex


async def start_collection(billing: Billing, client: AirtelClient, card: str, msisdn: str, amount: Money, *,
                           new_reference: Callable[[], str] = new_reference) -> PaymentRequest:
    """Ask ``msisdn`` to pay ``amount`` for ``card``; returns the request, pending or failed.

    Refuses (before asking anyone) another currency than Airtel's, an amount that is
    not whole, a number of another country and a card that cannot take a payment.
    """
    _check(client, billing.msisdn(msisdn), amount)
    if not await payments.card_is_payable(billing, card):
        raise UnknownCard(f"card {card} cannot take a payment")
    request = await payments.open_request(billing, PROVIDER, card, msisdn, amount, reference=new_reference(),
                                          first_poll_in_s=max(1, math.ceil(client.settings.poll_s)))
    try:
        await client.collect(request.reference, request.msisdn, amount, f"TV card {request.card}")
    except AirtelRefused as exc:
        log.info("Airtel refused request %s for %s: %s", request.reference, mask(request.msisdn), exc)
        failed = Settlement(False, result_code=exc.code[:16], result_desc=f"{exc.code}: {exc.message}")
        return (await payments.settle_request(billing, request, failed))[0]
    except AirtelUnavailable as exc:
        log.warning("Airtel request %s sent without an answer (%s): left to the poller", request.reference, exc)
    return request


def _check(client: AirtelClient, msisdn: str, amount: Money) -> None:
    settings = client.settings
    if amount.currency != settings.currency:
        raise InvalidAmount(f"Airtel Money collects {settings.currency}, not {amount.currency}")
    try:
        wire.whole_amount(amount)
    except wire.WireError as exc:
        raise InvalidAmount(str(exc)) from None
    try:
        wire.national_msisdn(msisdn, settings.country)
    except wire.WireError:
        raise InvalidMsisdn(f"Airtel Money here takes numbers of {settings.country}") from None


def settlement(enquiry: wire.Enquiry) -> Settlement | None:
    """Airtel's enquiry as our final word on a request (None while ambiguous or in progress)."""
    if enquiry.status == wire.TS:
        return Settlement(True, txid=enquiry.airtel_money_id, result_code=wire.TS, result_desc=enquiry.message,
                          raw=enquiry.raw)
    if enquiry.status == wire.TF:
        return Settlement(False, result_code=(enquiry.response_code or wire.TF)[:16], result_desc=enquiry.message,
                          raw=enquiry.raw)
    return None


async def probe(client: AirtelClient, request: PaymentRequest) -> Settlement | None:
    """The poller's status function: Airtel's word on ``request``."""
    return settlement(await client.enquiry(request.reference))


async def confirm(billing: Billing, client: AirtelClient, reference: str, *,
                  deadline_s: float | None = None) -> tuple[PaymentRequest, Payment | None]:
    """Ask Airtel about request ``reference`` and settle it if final.

    Raises AirtelError when Airtel gives no answer (within ``deadline_s`` in all, when given);
    only the question is cut short, never the settling.
    """
    return await confirmation.confirm(billing, PROVIDER, functools.partial(probe, client), reference,
                                      deadline_s=deadline_s, unavailable=AirtelUnavailable, name="Airtel")


def poller(billing: Billing, client: AirtelClient) -> Poller:
    settings = client.settings
    # an enquiry is at most four calls (token, enquiry, and both again after a 401), each bounded
    return Poller(billing, PROVIDER, functools.partial(probe, client), poll_s=settings.poll_s,
                  polls_max=settings.polls_max, timeout_s=http.AUTHORIZED_CALLS_MAX * settings.timeout_s,
                  transient=(AirtelError,))
