"""Rows of payment corrections, held cheques and refunds (tables of ``schema_care``).

Reads and writes only: what a correction does is decided in :mod:`billing_core.corrections`.
A payment is corrected at most once: :func:`claim` inserts its ``payment_corrections`` row
first, and the unique ``payment_id`` makes any second claim, concurrent or later, fail.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, select, update
from sqlalchemy.exc import IntegrityError

from billing_core.db.dialect import insert_ignore
from billing_core.db.schema import account_balances, journal_entries, payments, renewals, subscribers
from billing_core.db.schema_care import cheques, payment_corrections, refunds
from billing_core.errors import AlreadyReversed, Conflict, NotFound
from billing_core.money import Money
from billing_core.renewal import iso


@dataclass(frozen=True, slots=True)
class PaymentFacts:
    """A payment as a correction needs it."""

    id: int
    provider: str
    txid: str
    card: str | None
    amount: Money
    tvu: int
    status: str
    entry_id: int | None
    renewed: bool
    updated_at: int

    @property
    def ref(self) -> str:
        return f"{self.provider}:{self.txid}"


def payment(conn: Connection, provider: str | None, txid: str) -> PaymentFacts:
    """The payment ``txid`` (of ``provider``, or of the one provider that has it)."""
    stmt = select(payments).where(payments.c.provider_txid == txid)
    if provider:
        stmt = stmt.where(payments.c.provider == provider)
    rows = conn.execute(stmt.limit(2)).all()
    if not rows:
        raise NotFound(f"no payment {txid}")
    if len(rows) > 1:
        raise Conflict(f"{txid} names payments of several providers: give PROVIDER:{txid}")
    r = rows[0]
    return PaymentFacts(r.id, r.provider, r.provider_txid, r.card, Money(r.amount_minor, r.currency), r.tvu,
                        r.status, r.entry_id, bool(r.renewed), r.updated_at)


def claim(conn: Connection, payment_id: int, kind: str, reason: str, by: str, now: int) -> int:
    """The correction row of ``payment_id``; :class:`AlreadyReversed` when it has one."""
    try:
        with conn.begin_nested():
            return conn.execute(payment_corrections.insert().values(
                payment_id=payment_id, kind=kind, reason=reason[:255], created_by=by[:64], created_at=now,
            ).returning(payment_corrections.c.id)).scalar_one()
    except IntegrityError:
        done = correction_of(conn, payment_id)
        what = f"{done['kind']}d by {done['created_by']} at {done['created_at']}" if done else "corrected"
        raise AlreadyReversed(f"payment {payment_id} was {what} already") from None


def finish(conn: Connection, correction_id: int, entry_id: int | None, renewal_entry_id: int | None,
           shortfall_tvu: int) -> None:
    conn.execute(update(payment_corrections).where(payment_corrections.c.id == correction_id).values(
        entry_id=entry_id, renewal_entry_id=renewal_entry_id, shortfall_tvu=shortfall_tvu))


def correction_of(conn: Connection, payment_id: int) -> dict | None:
    row = conn.execute(select(payment_corrections).where(payment_corrections.c.payment_id == payment_id)).first()
    if row is None:
        return None
    return {"id": row.id, "kind": row.kind, "reason": row.reason, "entry_id": row.entry_id,
            "renewal_entry_id": row.renewal_entry_id, "shortfall_tvu": row.shortfall_tvu,
            "created_by": row.created_by, "created_at": iso(row.created_at)}


@dataclass(frozen=True, slots=True)
class RenewalFacts:
    """A renewal row, and whether it is the subscriber's latest."""

    id: int
    entry_id: int | None
    tvu: int
    starts_at: int
    ends_at: int
    latest: bool
    first: bool = False  # the subscriber's first renewal ever (the card was new before it)


def renewal_after(conn: Connection, subscriber_id: int, entry_id: int) -> RenewalFacts | None:
    """The renewal a credit caused: the first of ``subscriber_id`` paid by an entry after
    ``entry_id`` (the credit), written in the same transaction (reason ``credit``)."""
    row = conn.execute(select(renewals).where(
        renewals.c.subscriber_id == subscriber_id, renewals.c.reason == "credit", renewals.c.entry_id > entry_id)
        .order_by(renewals.c.entry_id).limit(1)).first()
    if row is None:
        return None
    latest = conn.execute(select(renewals.c.id).where(renewals.c.subscriber_id == subscriber_id)
                          .order_by(renewals.c.id.desc()).limit(1)).scalar_one()
    earlier = conn.execute(select(renewals.c.id).where(renewals.c.subscriber_id == subscriber_id,
                                                       renewals.c.id < row.id).limit(1)).first()
    return RenewalFacts(row.id, row.entry_id, row.tvu, row.starts_at, row.ends_at, latest == row.id, earlier is None)


def last_entry(conn: Connection, ref: str, kind: str) -> int:
    """The id of the latest journal entry of ``kind`` with ``ref``."""
    return conn.execute(select(journal_entries.c.id).where(journal_entries.c.ref == ref, journal_entries.c.kind == kind)
                        .order_by(journal_entries.c.id.desc()).limit(1)).scalar_one()


def card_now(conn: Connection, card: str) -> str:
    """The card number the subscriber of ``card`` has now (after any ``swap-card``)."""
    from billing_core.db.schema_stock import card_swaps

    if conn.execute(select(subscribers.c.id).where(subscribers.c.card == card)).first() is not None:
        return card
    moved = conn.execute(select(subscribers.c.card).join(card_swaps, card_swaps.c.subscriber_id == subscribers.c.id)
                         .where(card_swaps.c.old_card == card).order_by(card_swaps.c.id.desc()).limit(1)).first()
    return moved.card if moved is not None else card


def allow_overdraft(conn: Connection, wallet_account_id: int) -> None:
    """Let a wallet go below zero (a reversal the operator allows to leave a debt)."""
    conn.execute(update(account_balances).where(account_balances.c.account_id == wallet_account_id)
                 .values(credit_only=False))


def set_subscription(conn: Connection, subscriber_id: int, status: str, expires_at: int | None, now: int) -> None:
    conn.execute(update(subscribers).where(subscribers.c.id == subscriber_id)
                 .values(status=status, expires_at=expires_at, updated_at=now))


# ---- cheques --------------------------------------------------------------------------------

def _cheque(row) -> dict:
    return {"ref": row.ref, "card": row.card, "amount": str(Money(row.amount_minor, row.currency)),
            "status": row.status, "payment_id": row.payment_id, "reason": row.reason,
            "created_by": row.created_by, "created_at": iso(row.created_at), "updated_at": iso(row.updated_at)}


def hold_cheque(conn: Connection, ref: str, card: str, amount: Money, site: str, by: str, now: int) -> tuple[dict, bool]:
    """Record a held cheque once per reference; (the cheque, whether this call recorded it)."""
    inserted = conn.execute(insert_ignore(conn, cheques, "ref").values(
        ref=ref, card=card, amount_minor=amount.minor, currency=amount.currency, status="held", site=site[:32],
        created_by=by[:64], created_at=now, updated_at=now).returning(cheques.c.id)).scalar_one_or_none()
    return cheque(conn, ref), inserted is not None


def cheque(conn: Connection, ref: str) -> dict | None:
    row = conn.execute(select(cheques).where(cheques.c.ref == ref)).first()
    return None if row is None else _cheque(row)


def cheque_site(conn: Connection, ref: str) -> str:
    return conn.execute(select(cheques.c.site).where(cheques.c.ref == ref)).scalar_one()


def move_cheque(conn: Connection, ref: str, to: str, now: int, *, reason: str = "",
                payment_id: int | None = None) -> bool:
    """``held`` -> ``to``, once: False when the cheque was not held (any more)."""
    values = {"status": to, "updated_at": now, "reason": reason[:255]}
    if payment_id is not None:
        values["payment_id"] = payment_id
    return conn.execute(update(cheques).where(cheques.c.ref == ref, cheques.c.status == "held")
                        .values(**values)).rowcount == 1


def set_cheque_status(conn: Connection, ref: str, status: str, now: int, reason: str = "") -> None:
    conn.execute(update(cheques).where(cheques.c.ref == ref).values(status=status, updated_at=now,
                                                                   reason=reason[:255]))


def held_cheques(conn: Connection) -> list[dict]:
    return [_cheque(r) for r in conn.execute(select(cheques).where(cheques.c.status == "held")
                                             .order_by(cheques.c.created_at, cheques.c.id)).all()]


# ---- refunds --------------------------------------------------------------------------------

_REFUND_COLUMNS = (refunds, payments.c.provider, payments.c.provider_txid)


def _refund(row) -> dict:
    return {"id": row.id, "payment": f"{row.provider}:{row.provider_txid}", "card": row.card,
            "method": row.method, "amount": str(Money(row.amount_minor, row.currency)), "status": row.status,
            "requested_by": row.requested_by, "requested_at": iso(row.requested_at), "paid_ref": row.paid_ref,
            "paid_by": row.paid_by, "paid_at": iso(row.paid_at)}


def insert_refund(conn: Connection, payment: PaymentFacts, entry_id: int, by: str, now: int) -> dict:
    refund_id = conn.execute(refunds.insert().values(
        payment_id=payment.id, card=payment.card, method=payment.provider, amount_minor=payment.amount.minor,
        currency=payment.amount.currency, status="payable", entry_id=entry_id, requested_by=by[:64],
        requested_at=now).returning(refunds.c.id)).scalar_one()
    return refund(conn, refund_id)


def refund(conn: Connection, refund_id: int) -> dict:
    row = conn.execute(select(*_REFUND_COLUMNS).join(payments, payments.c.id == refunds.c.payment_id)
                       .where(refunds.c.id == refund_id)).first()
    if row is None:
        raise NotFound(f"no refund {refund_id}")
    return _refund(row)


def mark_paid(conn: Connection, refund_id: int, ref: str, by: str, now: int) -> bool:
    """``payable`` -> ``paid``, once: False when it was not payable (any more)."""
    return conn.execute(update(refunds).where(refunds.c.id == refund_id, refunds.c.status == "payable").values(
        status="paid", paid_ref=ref[:64], paid_by=by[:64], paid_at=now)).rowcount == 1


def set_paid_entry(conn: Connection, refund_id: int, entry_id: int) -> None:
    conn.execute(update(refunds).where(refunds.c.id == refund_id).values(paid_entry_id=entry_id))


def refund_facts(conn: Connection, refund_id: int) -> tuple[str, Money]:
    """(method, amount) of a refund."""
    row = conn.execute(select(refunds.c.method, refunds.c.amount_minor, refunds.c.currency)
                       .where(refunds.c.id == refund_id)).first()
    if row is None:
        raise NotFound(f"no refund {refund_id}")
    return row.method, Money(row.amount_minor, row.currency)


def list_refunds(conn: Connection, status: str | None = None) -> list[dict]:
    stmt = select(*_REFUND_COLUMNS).join(payments, payments.c.id == refunds.c.payment_id)
    if status:
        stmt = stmt.where(refunds.c.status == status)
    return [_refund(r) for r in conn.execute(stmt.order_by(refunds.c.id)).all()]
