"""MTN MoMo collection in our words: ask a phone to pay for a card; settle on MTN's word.

``start_request_to_pay`` records the request before it sends it, so a crash or a
timeout leaves a pending request the poller resolves, never money we do not know
of. ``confirm`` (the callback handler) and ``probe`` (the poller) ask MTN, authenticated,
and only MTN's answer settles a request: a callback body is never believed,
only taken as a reason to ask.
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
from billing_core.errors import InvalidAmount, UnknownCard
from billing_core.money import Money
from billing_core.phones import mask
from gateway.providers import confirmation, http
from gateway.providers.mtn_momo import wire
from gateway.providers.mtn_momo.client import MomoClient, MomoError, MomoRefused, MomoUnavailable
from gateway.providers.poller import Poller

log = logging.getLogger("tvtopup.mtn")
PROVIDER = "mtn"


def new_reference() -> str:
    return str(uuid.uuid4())


async def start_request_to_pay(billing: Billing, client: MomoClient, card: str, msisdn: str, amount: Money, *,
                               note: str = "", new_reference: Callable[[], str] = new_reference) -> PaymentRequest:
    """Ask ``msisdn`` to pay ``amount`` for ``card``; returns the request, pending or failed.

    Refuses (before asking anyone) a currency MTN is not set up for and a card that
    cannot take a payment. A definite refusal by MTN fails the request; no answer
    leaves it pending for the poller.
    """
    if amount.currency != client.settings.currency:
        raise InvalidAmount(f"MTN MoMo collects {client.settings.currency}, not {amount.currency}")
    if not await payments.card_is_payable(billing, card):
        raise UnknownCard(f"card {card} cannot take a payment")
    request = await payments.open_request(billing, PROVIDER, card, msisdn, amount, reference=new_reference(),
                                          first_poll_in_s=_poll_in_s(client))
    try:
        await client.request_to_pay(request.reference, request.msisdn, amount, external_id=request.reference,
                                    note=note or f"TV card {request.card}")
    except MomoRefused as exc:
        log.info("MTN refused request %s for %s: %s", request.reference, mask(request.msisdn), exc)
        failed = Settlement(False, result_code=exc.code[:16], result_desc=f"{exc.code}: {exc.message}")
        return (await payments.settle_request(billing, request, failed))[0]
    except MomoUnavailable as exc:
        log.warning("MTN request %s sent without an answer (%s): left to the poller", request.reference, exc)
    return request


def settlement(status: wire.PayStatus) -> Settlement | None:
    """MTN's status as our final word on a request (None while it is pending)."""
    if status.status == wire.PENDING:
        return None
    if status.status == wire.SUCCESSFUL:
        return Settlement(True, txid=status.financial_transaction_id, amount=status.amount,
                          result_code=wire.SUCCESSFUL, raw=status.raw)
    return Settlement(False, result_code=wire.FAILED, result_desc=status.reason, raw=status.raw)


async def probe(client: MomoClient, request: PaymentRequest) -> Settlement | None:
    """The poller's status function: MTN's word on ``request``."""
    return settlement(await client.status(request.reference))


async def confirm(billing: Billing, client: MomoClient, reference: str, *,
                  deadline_s: float | None = None) -> tuple[PaymentRequest, Payment | None]:
    """Ask MTN about request ``reference`` and settle it if final.

    Raises MomoError when MTN gives no answer (within ``deadline_s`` in all, when given);
    only the question is cut short, never the settling.
    """
    return await confirmation.confirm(billing, PROVIDER, functools.partial(probe, client), reference,
                                      deadline_s=deadline_s, unavailable=MomoUnavailable, name="MTN")


def poller(billing: Billing, client: MomoClient) -> Poller:
    settings = client.settings
    # a status is at most four calls (token, status, and both again after a 401), each bounded
    return Poller(billing, PROVIDER, functools.partial(probe, client), poll_s=settings.poll_s,
                  polls_max=settings.polls_max, timeout_s=http.AUTHORIZED_CALLS_MAX * settings.timeout_s,
                  transient=(MomoError,))


def _poll_in_s(client: MomoClient) -> int:
    return max(1, math.ceil(client.settings.poll_s))
