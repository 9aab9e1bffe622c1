"""Payments in the database: record once per (provider, transaction id), credit or hold.

The payment row is inserted first with ``ON CONFLICT DO NOTHING``: of any number
of concurrent or repeated notices for one transaction, exactly one inserts and
goes on to credit; the others find the first one's outcome and report it. A repeat
whose amount or account differs from the first credits nothing either, and is kept in
``payment_conflicts`` (once per distinct amount and account) for the operator.

A payment above its currency's maximum (``payments.max_amount``) is held with reason
``above_max_amount`` and no ledger entry: the amount is unverified and may be absurd
(no balance may overflow). It enters the ledger, through ``suspense:payments``, only
when an operator confirms it by assigning or refunding it.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from sqlalchemy import Connection, bindparam, select, update

from billing_core import ledger
from billing_core.db import ledger_store, promo_store, subscriber_store
from billing_core.db.dialect import insert_ignore
from billing_core.db.fast import Fast
from billing_core.db.schema import payment_conflicts, payment_requests, payments, subscribers
from billing_core.errors import Conflict, NotFound, UnknownCard
from billing_core.money import Money, Rates
from billing_core.receipts import Receipt
from billing_core.renewal import Status, iso

RAW_MAX = 4000
ABOVE_MAX = "above_max_amount"


@dataclass(frozen=True, slots=True)
class PaymentNotice:
    """A payment as any provider reports it, in our words."""

    provider: str
    txid: str
    account: str  # what the payer gave as the account: the smartcard number
    amount: Money
    msisdn: str = ""
    received_at: int | None = None
    raw: str = ""
    created_by: str = ""
    site: str = ""


@dataclass(frozen=True, slots=True)
class Payment:
    id: int
    provider: str
    txid: str
    account: str
    card: str | None
    amount: Money
    tvu: int
    status: str
    reason: str
    renewed: bool
    received_at: int
    created_by: str
    duplicate: bool = False
    conflict: bool = False  # a repeat whose amount or account differs from this, the first

    def to_json(self) -> dict:
        return {"id": self.id, "provider": self.provider, "txid": self.txid, "account": self.account,
                "card": self.card, "amount": str(self.amount), "tvu": self.tvu, "status": self.status,
                "reason": self.reason, "renewed": self.renewed, "received_at": iso(self.received_at),
                "created_by": self.created_by}


def _payment(row, duplicate: bool = False) -> Payment:
    return Payment(row.id, row.provider, row.provider_txid, row.account_ref, row.card,
                   Money(row.amount_minor, row.currency), row.tvu, row.status, row.reason, bool(row.renewed),
                   row.received_at, row.created_by, duplicate)


_PAYMENT_COLUMNS = ("provider", "provider_txid", "account_ref", "msisdn", "amount_minor", "currency", "status",
                    "received_at", "created_at", "updated_at", "created_by", "site", "raw")
_INSERT_PAYMENT = Fast(lambda name: insert_ignore(name, payments, "provider", "provider_txid")
                       .values({c: bindparam(c) for c in _PAYMENT_COLUMNS}).returning(payments.c.id))
_SETTLE_PAYMENT = Fast(update(payments).where(payments.c.id == bindparam("pid"))
                   .values(status=bindparam("status"), reason=bindparam("reason"), card=bindparam("card"),
                           tvu=bindparam("tvu"), entry_id=bindparam("entry_id"), renewed=bindparam("renewed"),
                           updated_at=bindparam("updated_at")))


def over_limit(amount: Money, max_amounts: Mapping[str, int] | None) -> bool:
    """Whether ``amount`` is above its currency's maximum (a currency not listed has none)."""
    limit = (max_amounts or {}).get(amount.currency)
    return limit is not None and amount.minor > limit


def record(conn: Connection, notice: PaymentNotice, card: str | None, rates: Rates, now: int,
           max_amounts: Mapping[str, int] | None = None) -> Payment:
    """Record ``notice`` once; credit ``card`` (None: not a card number) or hold it in suspense.

    A repeat returns the first payment with ``duplicate`` set, and ``conflict`` set too
    when its amount or account differs (the repeat is then kept in ``payment_conflicts``).
    """
    received_at = notice.received_at or now
    inserted = _INSERT_PAYMENT.scalar(conn, {
        "provider": notice.provider, "provider_txid": notice.txid, "account_ref": notice.account[:40],
        "msisdn": notice.msisdn[:20], "amount_minor": notice.amount.minor, "currency": notice.amount.currency,
        "status": "suspense", "received_at": received_at, "created_at": now, "updated_at": now,
        "created_by": notice.created_by[:64], "site": notice.site[:32], "raw": notice.raw[:RAW_MAX],
    })
    if inserted is None:
        return _repeat(conn, notice, received_at, now)
    ref = f"{notice.provider}:{notice.txid}"
    if over_limit(notice.amount, max_amounts):
        _settle(conn, inserted, "suspense", ABOVE_MAX, None, 0, None, False, now)
        return by_id(conn, inserted)
    applied = _apply(conn, inserted, notice.provider, notice.amount, card, rates, now, ref)
    if isinstance(applied, str):
        entry_id = ledger_store.post(conn, ledger.to_suspense(notice.provider, notice.amount, ref), now)
        _settle(conn, inserted, "suspense", applied, None, 0, entry_id, False, now)
        applied = Applied(None, 0, False, applied)
    else:  # promotions (bonus TVU, free add-on weeks): same transaction; a dict lookup when none runs
        promo_store.apply_payment_promotions(conn, applied.card, applied.tvu, notice.amount, now)
    return Payment(inserted, notice.provider, notice.txid, notice.account[:40], applied.card, notice.amount,
                   applied.tvu, "suspense" if applied.reason else "credited", applied.reason, applied.renewed,
                   received_at, notice.created_by[:64])


_INSERT_CONFLICT = Fast(lambda name: insert_ignore(name, payment_conflicts, "payment_id", "account_ref",
                                                   "amount_minor", "currency")
                        .values({c: bindparam(c) for c in ("payment_id", "provider", "provider_txid", "account_ref",
                                                           "msisdn", "amount_minor", "currency", "received_at",
                                                           "created_at", "raw")}))


def _repeat(conn: Connection, notice: PaymentNotice, received_at: int, now: int) -> Payment:
    """The first payment of a repeated transaction id; a repeat that differs is kept for the operator."""
    first = by_txid(conn, notice.provider, notice.txid, duplicate=True)
    if first.amount == notice.amount and first.account == notice.account[:40]:
        return first
    _INSERT_CONFLICT.execute(conn, {
        "payment_id": first.id, "provider": notice.provider, "provider_txid": notice.txid,
        "account_ref": notice.account[:40], "msisdn": notice.msisdn[:20], "amount_minor": notice.amount.minor,
        "currency": notice.amount.currency, "received_at": received_at, "created_at": now,
        "raw": notice.raw[:RAW_MAX]})
    return replace(first, conflict=True)


@dataclass(frozen=True, slots=True)
class Applied:
    card: str | None
    tvu: int
    renewed: bool
    reason: str = ""


def _settle(conn: Connection, payment_id: int, status: str, reason: str, card: str | None, tvu: int,
            entry_id: int | None, renewed: bool, now: int) -> None:
    _SETTLE_PAYMENT.execute(conn, {"pid": payment_id, "status": status, "reason": reason, "card": card, "tvu": tvu,
                                   "entry_id": entry_id, "renewed": renewed, "updated_at": now})


def _apply(conn: Connection, payment_id: int, method: str, amount: Money, card: str | None, rates: Rates,
           now: int, ref: str, *, source: str | None = None, status: str = "credited") -> Applied | str:
    """Credit ``card`` with ``amount``; returns why it could not be when it could not."""
    if card is None:
        return "unknown_card"
    if amount.currency not in rates:
        return "no_rate"
    conversion = rates.to_tvu(amount)
    if conversion.tvu == 0:
        return "below_unit"
    try:
        sub = subscriber_store.lock_subscriber(conn, card)
    except UnknownCard:
        return "unknown_card"
    if sub.status is Status.SUSPENDED:
        return "blocked"
    entry = ledger.purchase_of_tvu(card, method, amount, conversion, ref, source=source)
    result = subscriber_store.credit_locked(conn, sub, entry, conversion.tvu, now, receipt=Receipt.of(amount, ref))
    _settle(conn, payment_id, status, "", card, conversion.tvu, result.entry_id, result.renewed, now)
    return Applied(card, conversion.tvu, result.renewed)


def by_id(conn: Connection, payment_id: int) -> Payment:
    return _payment(conn.execute(select(payments).where(payments.c.id == payment_id)).one())


def by_txid(conn: Connection, provider: str | None, txid: str, *, duplicate: bool = False) -> Payment:
    """A payment by its provider's transaction id (any provider when ``provider`` is None)."""
    stmt = select(payments).where(payments.c.provider_txid == txid)
    if provider:
        stmt = stmt.where(payments.c.provider == provider)
    rows = conn.execute(stmt.limit(2)).all()
    if not rows:
        raise NotFound(f"no payment {txid}")
    if len(rows) > 1:
        raise Conflict(f"{txid} names payments of several providers: give PROVIDER:{txid}")
    return _payment(rows[0], duplicate)


def _claim(conn: Connection, held: Payment, status: str, now: int, operator: str, confirmed: bool) -> None:
    """Take ``held`` out of suspense (once, whatever the concurrency). A payment held above
    the maximum needs ``confirmed`` and enters the ledger now, in ``suspense:payments``."""
    if held.reason == ABOVE_MAX and not confirmed:
        raise Conflict(f"payment {held.txid} of {held.amount} is above payments.max_amount: "
                       "confirm the amount to take it out of suspense")
    claimed = conn.execute(update(payments).where(payments.c.id == held.id, payments.c.status == "suspense")
                           .values(status=status, updated_at=now, created_by=operator[:64])).rowcount
    if claimed != 1:
        raise Conflict(f"payment {held.txid} is {held.status}, not in suspense")
    if held.reason == ABOVE_MAX:
        ref = f"{held.provider}:{held.txid}"
        entry_id = ledger_store.post(conn, ledger.to_suspense(held.provider, held.amount, ref), now,
                                     created_by=operator)
        conn.execute(update(payments).where(payments.c.id == held.id).values(entry_id=entry_id))


def assign(conn: Connection, provider: str | None, txid: str, card: str, rates: Rates, now: int,
           operator: str, confirmed: bool = False) -> Payment:
    """Credit a payment held in suspense to ``card``; each held payment is assigned once.
    One held above the maximum is assigned only ``confirmed`` by the operator."""
    held = by_txid(conn, provider, txid)
    _claim(conn, held, "assigned", now, operator, confirmed)
    applied = _apply(conn, held.id, held.provider, held.amount, card, rates, now, f"assign:{held.provider}:{txid}",
                     source=ledger.SUSPENSE, status="assigned")
    if isinstance(applied, str):
        raise Conflict(f"cannot assign to card {card}: {applied}")
    return by_id(conn, held.id)


def refund(conn: Connection, provider: str | None, txid: str, now: int, operator: str,
           confirmed: bool = False) -> Payment:
    """Mark a held payment for refund: it leaves suspense for ``refunds:payable``."""
    held = by_txid(conn, provider, txid)
    _claim(conn, held, "refund", now, operator, confirmed)
    ledger_store.post(conn, ledger.suspense_to_refund(held.amount, f"refund:{held.provider}:{txid}"), now,
                      created_by=operator)
    return by_id(conn, held.id)


def in_suspense(conn: Connection, since: int | None = None, until: int | None = None) -> list[Payment]:
    stmt = select(payments).where(payments.c.status == "suspense")
    if since is not None:
        stmt = stmt.where(payments.c.created_at >= since)
    if until is not None:
        stmt = stmt.where(payments.c.created_at < until)
    return [_payment(r) for r in conn.execute(stmt.order_by(payments.c.created_at, payments.c.id)).all()]


@dataclass(frozen=True, slots=True)
class PaymentConflict:
    """A repeat of transaction ``txid`` that differed from the first payment: nothing was credited."""

    id: int
    provider: str
    txid: str
    account: str
    msisdn: str
    amount: Money
    received_at: int
    first_account: str
    first_amount: Money
    first_status: str

    def to_json(self) -> dict:
        return {"id": self.id, "provider": self.provider, "txid": self.txid, "account": self.account,
                "amount": str(self.amount), "status": "conflict",
                "reason": f"repeat differs from the first ({self.first_amount} for {self.first_account!r}, "
                          f"{self.first_status})", "received_at": iso(self.received_at),
                "first_account": self.first_account, "first_amount": str(self.first_amount)}


def conflicts(conn: Connection, since: int | None = None, until: int | None = None) -> list[PaymentConflict]:
    """Repeats that differed from their first payment, oldest first."""
    c, p = payment_conflicts, payments
    stmt = select(c, p.c.account_ref.label("first_account"), p.c.amount_minor.label("first_minor"),
                  p.c.currency.label("first_currency"), p.c.status.label("first_status")) \
        .join(p, p.c.id == c.c.payment_id)
    if since is not None:
        stmt = stmt.where(c.c.created_at >= since)
    if until is not None:
        stmt = stmt.where(c.c.created_at < until)
    return [PaymentConflict(r.id, r.provider, r.provider_txid, r.account_ref, r.msisdn,
                            Money(r.amount_minor, r.currency), r.received_at, r.first_account,
                            Money(r.first_minor, r.first_currency), r.first_status)
            for r in conn.execute(stmt.order_by(c.c.created_at, c.c.id)).all()]


def for_card(conn: Connection, card: str, limit: int = 5) -> list[Payment]:
    rows = conn.execute(select(payments).where(payments.c.card == card)
                        .order_by(payments.c.id.desc()).limit(limit)).all()
    return [_payment(r) for r in rows]


def txids(conn: Connection, provider: str, since: int, until: int) -> set[str]:
    """Transaction ids of ``provider`` received in [since, until) (reconciliation)."""
    rows = conn.execute(select(payments.c.provider_txid).where(
        payments.c.provider == provider, payments.c.received_at >= since, payments.c.received_at < until)).all()
    return {r.provider_txid for r in rows}


def payable(conn: Connection, card: str) -> bool:
    """A registered, not suspended card."""
    status = conn.execute(select(subscribers.c.status).where(subscribers.c.card == card)).scalar_one_or_none()
    return status is not None and status != Status.SUSPENDED.value


# ---- payment requests (STK push, MoMo request-to-pay, Airtel collection) -----------------

@dataclass(frozen=True, slots=True)
class PaymentRequest:
    id: int
    provider: str
    reference: str
    provider_ref: str | None
    card: str
    msisdn: str
    amount: Money
    status: str
    result_code: str
    result_desc: str
    payment_id: int | None
    polls: int

    def to_json(self) -> dict:
        return {"reference": self.reference, "provider": self.provider, "provider_ref": self.provider_ref,
                "card": self.card, "amount": str(self.amount), "status": self.status,
                "result_code": self.result_code, "result_desc": self.result_desc, "polls": self.polls}


def _request(row) -> PaymentRequest:
    return PaymentRequest(row.id, row.provider, row.reference, row.provider_ref, row.card, row.msisdn,
                          Money(row.amount_minor, row.currency), row.status, row.result_code, row.result_desc,
                          row.payment_id, row.polls)


def open_request(conn: Connection, provider: str, reference: str, card: str, msisdn: str, amount: Money,
                 now: int, first_poll_at: int) -> PaymentRequest:
    conn.execute(payment_requests.insert().values(
        provider=provider, reference=reference, card=card, msisdn=msisdn, amount_minor=amount.minor,
        currency=amount.currency, status="pending", next_poll_at=first_poll_at, created_at=now, updated_at=now))
    return request_by(conn, reference=reference)


def request_by(conn: Connection, *, reference: str | None = None, provider: str | None = None,
               provider_ref: str | None = None, lock: bool = False) -> PaymentRequest:
    stmt = select(payment_requests)
    if reference is not None:
        stmt = stmt.where(payment_requests.c.reference == reference)
    else:
        stmt = stmt.where(payment_requests.c.provider == provider, payment_requests.c.provider_ref == provider_ref)
    if lock and conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    row = conn.execute(stmt).one_or_none()
    if row is None:
        raise NotFound("no such payment request")
    return _request(row)


def set_provider_ref(conn: Connection, reference: str, provider_ref: str, now: int) -> None:
    conn.execute(update(payment_requests).where(payment_requests.c.reference == reference)
                 .values(provider_ref=provider_ref, updated_at=now))


@dataclass(frozen=True, slots=True)
class Settlement:
    """A provider's final word on a request: paid (with its transaction id) or not."""

    success: bool
    txid: str = ""
    amount: Money | None = None
    result_code: str = ""
    result_desc: str = ""
    msisdn: str = ""
    raw: str = ""


def settle(conn: Connection, request: PaymentRequest, outcome: Settlement, rates: Rates,
           now: int, max_amounts: Mapping[str, int] | None = None) -> tuple[PaymentRequest, Payment | None]:
    """Apply a final outcome once. A success always records the payment (even after the
    request was given up as failed: money that arrived is never lost); a repeat finds
    the payment already recorded under its transaction id."""
    current = request_by(conn, reference=request.reference, lock=True)
    if current.status == "successful" or (not outcome.success and current.status == "failed"):
        payment = by_id(conn, current.payment_id) if current.payment_id else None
        return current, payment
    if not outcome.success:
        conn.execute(update(payment_requests).where(payment_requests.c.id == current.id).values(
            status="failed", result_code=outcome.result_code[:16], result_desc=outcome.result_desc[:255],
            updated_at=now))
        return request_by(conn, reference=current.reference), None
    notice = PaymentNotice(provider=current.provider, txid=outcome.txid, account=current.card,
                           amount=outcome.amount or current.amount, msisdn=outcome.msisdn or current.msisdn,
                           received_at=now, raw=outcome.raw)
    payment = record(conn, notice, current.card, rates, now, max_amounts)
    conn.execute(update(payment_requests).where(payment_requests.c.id == current.id).values(
        status="successful", result_code=outcome.result_code[:16], result_desc=outcome.result_desc[:255],
        payment_id=payment.id, updated_at=now))
    return request_by(conn, reference=current.reference), payment


def due_requests(conn: Connection, provider: str, now: int, limit: int) -> list[PaymentRequest]:
    rows = conn.execute(select(payment_requests).where(
        payment_requests.c.provider == provider, payment_requests.c.status == "pending",
        payment_requests.c.next_poll_at <= now).order_by(payment_requests.c.next_poll_at).limit(limit)).all()
    return [_request(r) for r in rows]


def polled(conn: Connection, reference: str, next_poll_at: int, now: int, polls_max: int) -> None:
    """Count a status poll that found the request still pending; give up after ``polls_max``
    (a later success callback still credits)."""
    conn.execute(update(payment_requests).where(payment_requests.c.reference == reference,
                                                payment_requests.c.status == "pending")
                 .values(polls=payment_requests.c.polls + 1, next_poll_at=next_poll_at, updated_at=now))
    conn.execute(update(payment_requests).where(payment_requests.c.reference == reference,
                                                payment_requests.c.status == "pending",
                                                payment_requests.c.polls >= polls_max)
                 .values(status="failed", result_code="timeout", result_desc="no final status from the provider"))
