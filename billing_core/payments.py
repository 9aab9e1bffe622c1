"""Payments from every channel, through one path: ``record_payment``.

A provider adapter turns its payload into a :class:`PaymentNotice`; the use case
records it keyed by (provider, provider transaction id) under a unique
constraint, converts the money to TVU at the currency's rate, credits the
wallet and applies the renewal rules, in one transaction with its outbox
events. A repeat of the same transaction id, however concurrent, credits nothing
and returns the first outcome. Money that cannot be applied (unknown or
suspended card, currency without a rate, less than one TVU) is held in
``suspense:payments`` until an operator assigns it to a card or marks it for refund;
so is a payment above its currency's ``payments.max_amount``, which the operator must
confirm. A repeat of a transaction id with another amount or account credits nothing,
is logged as a warning and kept for the operator (``conflicts``).
"""
from __future__ import annotations

import logging
import re

from billing_core.context import Billing
from billing_core.db import payment_store as store
from billing_core.db.payment_store import Payment, PaymentNotice
from billing_core.errors import InvalidAmount, InvalidInput
from billing_core.money import Money
from billing_core.phones import mask

log = logging.getLogger("tvtopup.payments")

TXID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
PROVIDERS = ("mpesa", "mtn", "airtel", "africastalking", "cash", "bank", "cheque")
MANUAL_METHODS = ("cash", "bank", "cheque")


def _check(notice: PaymentNotice) -> None:
    if notice.provider not in PROVIDERS:
        raise InvalidInput(f"unknown payment provider {notice.provider!r}")
    if not TXID.fullmatch(notice.txid):
        raise InvalidInput("a transaction id is 1-64 letters, digits or ._:-")
    if notice.amount.minor <= 0:
        raise InvalidAmount("a payment must be more than zero")


async def record_payment(billing: Billing, notice: PaymentNotice) -> Payment:
    """Record a payment exactly once; credit it to the card or hold it in suspense."""
    _check(notice)
    card = notice.account.strip() if billing.is_card(notice.account) else None
    payment = await billing.db.write(store.record, notice, card, billing.rates, billing.now(), billing.max_amounts)
    _flag(payment, notice)
    return payment


def _flag(payment: Payment, notice: PaymentNotice) -> None:
    """Say so when a payment was held above the maximum, or a repeat differed from the first."""
    if payment.conflict:
        log.warning("payment %s:%s repeated with another amount or account (%s for %r from %s; the first: %s for "
                    "%r, %s): nothing more credited, kept for the operator", notice.provider, notice.txid,
                    notice.amount, notice.account[:40], mask(notice.msisdn), payment.amount, payment.account,
                    payment.status)
    elif payment.reason == store.ABOVE_MAX and not payment.duplicate:
        log.warning("payment %s:%s of %s from %s is above payments.max_amount: held in suspense", notice.provider,
                    notice.txid, notice.amount, mask(notice.msisdn))


async def record_manual(billing: Billing, card: str, amount: str, method: str, ref: str, *,
                        operator: str, site: str = "") -> Payment:
    """Money taken at an agency or by bank: the reference is the idempotency key."""
    if method not in MANUAL_METHODS:
        raise InvalidInput(f"method must be one of {', '.join(MANUAL_METHODS)}")
    notice = PaymentNotice(provider=method, txid=ref.strip(), account=billing.card(card), amount=Money.parse(amount),
                           created_by=operator, site=site)
    return await record_payment(billing, notice)


def _split(txid: str) -> tuple[str | None, str]:
    provider, sep, rest = txid.partition(":")
    return (provider, rest) if sep and provider in PROVIDERS else (None, txid)


async def assign_payment(billing: Billing, txid: str, card: str, *, operator: str,
                         confirmed: bool = False) -> Payment:
    """Credit a payment held in suspense to ``card`` (``TXID`` or ``PROVIDER:TXID``); one held
    above ``payments.max_amount`` only ``confirmed`` (the operator has checked the amount)."""
    provider, tx = _split(txid)
    return await billing.db.write(store.assign, provider, tx, billing.card(card), billing.rates, billing.now(),
                                  operator, confirmed)


async def refund_payment(billing: Billing, txid: str, *, operator: str, confirmed: bool = False) -> Payment:
    provider, tx = _split(txid)
    return await billing.db.write(store.refund, provider, tx, billing.now(), operator, confirmed)


async def suspense(billing: Billing, since: int | None = None, until: int | None = None) -> list[Payment]:
    return await billing.db.read(store.in_suspense, since, until)


async def conflicts(billing: Billing, since: int | None = None,
                    until: int | None = None) -> list[store.PaymentConflict]:
    """Repeats of a transaction id that differed from the first payment (nothing credited)."""
    return await billing.db.read(store.conflicts, since, until)


async def card_is_payable(billing: Billing, account: str) -> bool:
    """Validation (before the money moves): is ``account`` a card that can take a payment now?"""
    if not billing.is_card(account):
        return False
    return await billing.db.read(store.payable, account.strip())


def above_max_amount(billing: Billing, amount: Money) -> bool:
    """Is ``amount`` above its currency's ``payments.max_amount`` (it would be held, not credited)?"""
    return store.over_limit(amount, billing.max_amounts)


__all__ = ["PaymentNotice", "Payment", "open_request", "set_provider_ref", "find_request", "settle_request",
           "due_requests", "request_polled", "record_payment", "record_manual", "assign_payment", "refund_payment",
           "suspense", "conflicts", "card_is_payable", "above_max_amount"]


# ---- payment requests: we ask the payer's phone to approve (STK push, MoMo, Airtel) ---------

async def open_request(billing: Billing, provider: str, card: str, msisdn: str, amount: Money, *,
                       reference: str, first_poll_in_s: int = 30) -> store.PaymentRequest:
    """Record a request we are about to send, before sending it (a crash then leaves a
    pending request that the poller resolves, never a payment we do not know of)."""
    if provider not in PROVIDERS:
        raise InvalidInput(f"unknown payment provider {provider!r}")
    if amount.minor <= 0:
        raise InvalidAmount("a payment must be more than zero")
    now = billing.now()
    return await billing.db.write(store.open_request, provider, reference, billing.card(card),
                                  billing.msisdn(msisdn), amount, now, now + first_poll_in_s)


async def set_provider_ref(billing: Billing, reference: str, provider_ref: str) -> None:
    await billing.db.write(store.set_provider_ref, reference, provider_ref, billing.now())


async def find_request(billing: Billing, *, reference: str | None = None, provider: str | None = None,
                       provider_ref: str | None = None) -> store.PaymentRequest:
    return await billing.db.read(store.request_by, reference=reference, provider=provider,
                                 provider_ref=provider_ref)


async def settle_request(billing: Billing, request: store.PaymentRequest,
                         outcome: store.Settlement) -> tuple[store.PaymentRequest, Payment | None]:
    """The provider's final word on a request; idempotent."""
    if outcome.success and not TXID.fullmatch(outcome.txid or ""):
        raise InvalidInput("a successful payment needs the provider's transaction id")
    settled, payment = await billing.db.write(store.settle, request, outcome, billing.rates, billing.now(),
                                              billing.max_amounts)
    if payment is not None:
        _flag(payment, store.PaymentNotice(provider=request.provider, txid=outcome.txid, account=request.card,
                                           amount=outcome.amount or request.amount, msisdn=request.msisdn))
    return settled, payment


async def due_requests(billing: Billing, provider: str, limit: int = 50) -> list[store.PaymentRequest]:
    return await billing.db.read(store.due_requests, provider, billing.now(), limit)


async def request_polled(billing: Billing, reference: str, *, next_in_s: int, polls_max: int) -> None:
    now = billing.now()
    await billing.db.write(store.polled, reference, now + next_in_s, now, polls_max)
