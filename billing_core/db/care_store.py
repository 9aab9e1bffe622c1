"""Rows customer care reads and writes: a subscriber's details and care record, the list of
lapsed cards, the recipients of an operator's notice. No decisions here
(:mod:`billing_core.care` makes them)."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, func, select, update
from sqlalchemy.exc import IntegrityError

from billing_core.db.dialect import insert_ignore
from billing_core.db.schema import packages, payments, subscribers
from billing_core.db.schema_care import subscriber_care
from billing_core.errors import Conflict
from billing_core.renewal import Status


@dataclass(frozen=True, slots=True)
class CareRecord:
    region: str = ""
    suspended_at: int | None = None
    suspend_reason: str = ""
    terminated_at: int | None = None
    terminate_reason: str = ""


def care_record(conn: Connection, subscriber_id: int) -> CareRecord:
    row = conn.execute(select(subscriber_care).where(subscriber_care.c.subscriber_id == subscriber_id)).first()
    if row is None:
        return CareRecord()
    return CareRecord(row.region, row.suspended_at, row.suspend_reason, row.terminated_at, row.terminate_reason)


def save_care(conn: Connection, subscriber_id: int, now: int, **values: object) -> None:
    """Set ``values`` on the care record of ``subscriber_id`` (created on first use)."""
    conn.execute(insert_ignore(conn, subscriber_care, "subscriber_id").values(subscriber_id=subscriber_id,
                                                                              updated_at=now))
    conn.execute(update(subscriber_care).where(subscriber_care.c.subscriber_id == subscriber_id)
                 .values(updated_at=now, **values))


def update_subscriber(conn: Connection, subscriber_id: int, now: int, **values: object) -> None:
    """Change a subscriber's own columns (msisdn, name, lang, status, expires_at)."""
    try:
        with conn.begin_nested():
            conn.execute(update(subscribers).where(subscribers.c.id == subscriber_id)
                         .values(updated_at=now, **values))
    except IntegrityError as exc:
        raise Conflict(f"the change was refused by the database: {exc.orig}") from None


# ---- lapsed cards ---------------------------------------------------------------------------

def lapsed(conn: Connection, now: int, since: int, region: str | None, limit: int) -> list[dict]:
    """Cards whose base package ran out in [since, now] and were not renewed, suspended or
    terminated: card, phone, name, language, package, expiry, region and last payment."""
    last_paid = (select(payments.c.card, func.max(payments.c.received_at).label("at"))
                 .where(payments.c.status.in_(("credited", "assigned"))).group_by(payments.c.card).subquery())
    stmt = (select(subscribers.c.card, subscribers.c.msisdn, subscribers.c.name, subscribers.c.lang,
                   subscribers.c.expires_at, packages.c.code.label("package"),
                   func.coalesce(subscriber_care.c.region, "").label("region"), last_paid.c.at.label("last_paid_at"))
            .join(packages, packages.c.id == subscribers.c.package_id)
            .outerjoin(subscriber_care, subscriber_care.c.subscriber_id == subscribers.c.id)
            .outerjoin(last_paid, last_paid.c.card == subscribers.c.card)
            .where(subscribers.c.status.in_((Status.ACTIVE.value, Status.EXPIRED.value)),
                   subscribers.c.expires_at <= now, subscribers.c.expires_at >= since))
    if region:
        stmt = stmt.where(subscriber_care.c.region == region)
    rows = conn.execute(stmt.order_by(subscribers.c.expires_at.desc(), subscribers.c.card).limit(limit)).all()
    return [dict(r._mapping) for r in rows]


def last_payment_amounts(conn: Connection, cards: list[str]) -> dict[str, tuple[int, str, str]]:
    """card -> (amount_minor, currency, provider) of its latest credited payment."""
    if not cards:
        return {}
    rows = conn.execute(select(payments.c.card, payments.c.amount_minor, payments.c.currency, payments.c.provider)
                        .where(payments.c.card.in_(cards), payments.c.status.in_(("credited", "assigned")))
                        .order_by(payments.c.card, payments.c.received_at, payments.c.id)).all()
    return {r.card: (r.amount_minor, r.currency, r.provider) for r in rows}  # the last one per card wins


# ---- recipients of an operator's notice -----------------------------------------------------

def recipients(conn: Connection, *, card: str | None = None, package: str | None = None,
               region: str | None = None) -> list[tuple[str, str, str]]:
    """(card, msisdn, lang) of subscribers that are not suspended or terminated, chosen by
    card, by package (its subscribers with a running period), by region, or all (no filter)."""
    stmt = (select(subscribers.c.card, subscribers.c.msisdn, subscribers.c.lang)
            .outerjoin(subscriber_care, subscriber_care.c.subscriber_id == subscribers.c.id)
            .where(subscribers.c.status != Status.SUSPENDED.value))
    if card:
        stmt = stmt.where(subscribers.c.card == card)
    if package:
        stmt = (stmt.join(packages, packages.c.id == subscribers.c.package_id)
                .where(packages.c.code == package, subscribers.c.status == Status.ACTIVE.value))
    if region:
        stmt = stmt.where(subscriber_care.c.region == region)
    return [(r.card, r.msisdn, r.lang) for r in conn.execute(stmt.order_by(subscribers.c.card)).all()]
