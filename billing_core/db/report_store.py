"""The SQL of the operator's reports (SQLAlchemy Core, the same on SQLite and PostgreSQL).

Figures are summed in SQL over the finest grouping a report may ask for, with time in
buckets of :data:`BUCKET_S` seconds (``epoch // 900``: integer division in both
dialects). The use cases in :mod:`billing_core.reports` fold those rows into the
grouping asked for, turning a bucket into a day of the operator's time zone in Python
(every time zone's offset is a whole number of quarter hours, so a bucket never
straddles local midnight). Money is never summed across currencies: the currency is
part of every group. Sums are :class:`~billing_core.db.dialect.exact_sum`: exact
integers however large (no 64-bit overflow, no float).

Periods are ``[since, until)`` in epoch seconds; ``None`` leaves that side open.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, String, and_, case, cast, func, literal, select

from billing_core.db.dialect import exact_sum
from billing_core.db.schema import account_balances, outbox, packages, payments, renewals, subscribers
from billing_core.db.schema_cards import card_batches, cards
from billing_core.db.schema_dealers import dealer_sites, dealer_topups, dealers
from billing_core.renewal import Status

BUCKET_S = 900
SOLD = ("credited", "assigned")  # payments that became TVU in a wallet
REVOKE = "entitlement.revoke"  # tv_notify.events.REVOKE: written only when a subscription expires


@dataclass(frozen=True, slots=True)
class SaleRow:
    """Sales of one bucket (None: not asked for) and source, in one currency ("" for card
    redemptions: the money for a scratch card is taken when the card is sold, not here)."""

    bucket: int | None
    channel: str
    provider: str
    dealer: str
    package: str
    region: str
    currency: str
    count: int
    amount_minor: int
    tvu: int


def _bucket(column, with_bucket: bool):
    return (column // BUCKET_S).label("bucket") if with_bucket else literal(None).label("bucket")


def _period(stmt, column, since: int | None, until: int | None):
    if since is not None:
        stmt = stmt.where(column >= since)
    if until is not None:
        stmt = stmt.where(column < until)
    return stmt


def sales(conn: Connection, since: int | None, until: int | None, *, with_bucket: bool) -> list[SaleRow]:
    """Payments credited or assigned (by ``received_at``), scratch cards redeemed (by
    ``redeemed_at``) and dealer top-ups not reversed (by ``created_at``)."""
    return _payment_sales(conn, since, until, with_bucket) + _card_sales(conn, since, until, with_bucket) \
        + _dealer_sales(conn, since, until, with_bucket)


def _package_of(card_column):
    """The current package code of the subscriber of ``card_column`` ("" when none)."""
    return (select(packages.c.code).join(subscribers, subscribers.c.package_id == packages.c.id)
            .where(subscribers.c.card == card_column).scalar_subquery())


def _payment_sales(conn: Connection, since, until, with_bucket: bool) -> list[SaleRow]:
    bucket = _bucket(payments.c.received_at, with_bucket)
    package = func.coalesce(_package_of(payments.c.card), "").label("package")
    stmt = _period(select(bucket, payments.c.provider, package, payments.c.currency, func.count(),
                          exact_sum(payments.c.amount_minor), exact_sum(payments.c.tvu))
                   .where(payments.c.status.in_(SOLD), ~_corrected()), payments.c.received_at, since, until)
    rows = conn.execute(stmt.group_by(bucket, payments.c.provider, package, payments.c.currency)).all()
    return [SaleRow(_int(b), p, p, "", pkg, "", ccy, int(n), int(amount), int(tvu))
            for b, p, pkg, ccy, n, amount, tvu in rows]


def _corrected():
    """SQL: the payment was reversed, bounced or refunded (billing_core.corrections): not a sale."""
    from sqlalchemy import exists

    from billing_core.db.schema_care import payment_corrections

    return exists().where(payment_corrections.c.payment_id == payments.c.id)


def _card_sales(conn: Connection, since, until, with_bucket: bool) -> list[SaleRow]:
    bucket = _bucket(cards.c.redeemed_at, with_bucket)
    package = func.coalesce(_package_of(cards.c.redeemed_card), "").label("package")
    via = func.coalesce(cards.c.redeemed_channel, "").label("via")
    dealer = func.coalesce(dealers.c.name, cards.c.dealer, "").label("dealer")
    stmt = _period(select(bucket, via, dealer, package, func.count(), exact_sum(cards.c.value_tvu))
                   .select_from(cards.outerjoin(dealers, cards.c.dealer == cast(dealers.c.id, String)))
                   .where(cards.c.state == "redeemed"), cards.c.redeemed_at, since, until)
    rows = conn.execute(stmt.group_by(bucket, via, dealer, package)).all()
    return [SaleRow(_int(b), "card", f"card:{v}" if v else "card", d, pkg, "", "", int(n), 0, int(tvu))
            for b, v, d, pkg, n, tvu in rows]


def _dealer_sales(conn: Connection, since, until, with_bucket: bool) -> list[SaleRow]:
    t = dealer_topups
    bucket = _bucket(t.c.created_at, with_bucket)
    package = func.coalesce(t.c.package_code, _package_of(t.c.card), "").label("package")
    region = func.coalesce(dealer_sites.c.region, "").label("region")
    joined = t.join(dealers, dealers.c.id == t.c.dealer_id).outerjoin(
        dealer_sites, and_(dealer_sites.c.dealer_id == t.c.dealer_id, dealer_sites.c.name == t.c.site))
    stmt = _period(select(bucket, dealers.c.name, package, region, t.c.currency, func.count(),
                          exact_sum(t.c.face_minor), exact_sum(t.c.tvu))
                   .select_from(joined).where(t.c.status == "done"), t.c.created_at, since, until)
    rows = conn.execute(stmt.group_by(bucket, dealers.c.name, package, region, t.c.currency)).all()
    return [SaleRow(_int(b), "dealer", "dealer", name, pkg, reg, ccy, int(n), int(face), int(tvu))
            for b, name, pkg, reg, ccy, n, face, tvu in rows]


def _int(value) -> int | None:
    return None if value is None else int(value)


# ---- renewals, de-activations, churn ----------------------------------------------------------

@dataclass(frozen=True, slots=True)
class RenewalRow:
    bucket: int
    package: str
    reason: str  # credit (a payment renewed a lapsed subscription), explicit, expiry (from the wallet)
    count: int
    tvu: int


def renewals_by(conn: Connection, since: int | None, until: int | None) -> list[RenewalRow]:
    bucket = _bucket(renewals.c.created_at, True)
    stmt = _period(select(bucket, packages.c.code, renewals.c.reason, func.count(), exact_sum(renewals.c.tvu))
                   .select_from(renewals.join(packages, packages.c.id == renewals.c.package_id)),
                   renewals.c.created_at, since, until)
    rows = conn.execute(stmt.group_by(bucket, packages.c.code, renewals.c.reason)).all()
    return [RenewalRow(int(b), code, reason, int(n), int(tvu)) for b, code, reason, n, tvu in rows]


@dataclass(frozen=True, slots=True)
class Deactivation:
    card: str
    at: int
    package: str


def deactivations(conn: Connection, since: int | None, until: int | None) -> list[Deactivation]:
    """Subscriptions that expired (their entitlement was revoked), oldest first. The revoke
    event is written in the expiry's own transaction, so the outbox is the record of it."""
    package = func.coalesce(_package_of(outbox.c.card), "")
    stmt = _period(select(outbox.c.card, outbox.c.created_at, package).where(outbox.c.kind == REVOKE),
                   outbox.c.created_at, since, until)
    return [Deactivation(card, int(at), pkg) for card, at, pkg in
            conn.execute(stmt.order_by(outbox.c.created_at, outbox.c.id)).all()]


def renewal_times(conn: Connection, since: int, until: int | None) -> dict[str, list[int]]:
    """When each card was renewed in ``[since, until)``, ascending (to tell churn from win-back)."""
    stmt = _period(select(subscribers.c.card, renewals.c.created_at)
                   .join(subscribers, subscribers.c.id == renewals.c.subscriber_id),
                   renewals.c.created_at, since, until)
    out: dict[str, list[int]] = {}
    for card, at in conn.execute(stmt.order_by(renewals.c.created_at)).all():
        out.setdefault(card, []).append(int(at))
    return out


# ---- expiring subscriptions -------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class ExpiringRow:
    card: str
    msisdn: str
    name: str
    package: str
    price_tvu: int
    expires_at: int
    wallet_tvu: int


def expiring(conn: Connection, after: int, until: int, limit: int) -> list[ExpiringRow]:
    """Active subscriptions whose period ends in ``(after, until]``, soonest first."""
    wallet = (select(func.coalesce(-func.sum(account_balances.c.balance), 0))
              .where(account_balances.c.account_id == subscribers.c.wallet_account_id).scalar_subquery())
    stmt = (select(subscribers.c.card, subscribers.c.msisdn, subscribers.c.name,
                   func.coalesce(packages.c.code, ""), func.coalesce(packages.c.tvu, 0), subscribers.c.expires_at,
                   wallet)
            .select_from(subscribers.outerjoin(packages, packages.c.id == subscribers.c.package_id))
            .where(subscribers.c.status == Status.ACTIVE.value, subscribers.c.expires_at > after,
                   subscribers.c.expires_at <= until)
            .order_by(subscribers.c.expires_at, subscribers.c.card).limit(limit))
    return [ExpiringRow(card, msisdn, name, code, int(price), int(exp), int(w))
            for card, msisdn, name, code, price, exp, w in conn.execute(stmt).all()]


# ---- the dashboard's other figures ----------------------------------------------------------

def outbox_backlog(conn: Connection) -> dict[str, int]:
    """Events per status, and how many pending ones are already past their first attempt."""
    rows = conn.execute(select(outbox.c.status, func.count(),
                               func.sum(case((outbox.c.attempts > 0, 1), else_=0)))
                        .group_by(outbox.c.status)).all()
    out = {"pending": 0, "delivered": 0, "dead": 0, "retrying": 0}
    for status, n, retried in rows:
        out[status] = int(n)
        if status == "pending":
            out["retrying"] = int(retried or 0)
    return out


def batch_names(conn: Connection) -> dict[int, str]:
    return {int(i): name for i, name in conn.execute(select(card_batches.c.id, card_batches.c.name)).all()}


__all__ = ["BUCKET_S", "SaleRow", "RenewalRow", "Deactivation", "ExpiringRow", "sales", "renewals_by",
           "deactivations", "renewal_times", "expiring", "outbox_backlog", "batch_names"]
