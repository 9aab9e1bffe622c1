"""Pay-per-view events and purchases in the database: the transaction bodies of their use cases.

Exactly once, whatever the concurrency or the number of processes:

- a purchase: the subscriber row is locked first (as every wallet movement does), the
  event row is share-locked (a cancellation waits for purchases in flight and later
  purchases see it cancelled), and ``UNIQUE(subscriber_id, event_id)`` refuses a second
  purchase of the same event by the same card;
- a revoke: ``revoked_at`` is set by ``UPDATE ... WHERE revoked_at IS NULL RETURNING``,
  and only the transaction that set it writes the revoke event;
- a refund: ``refunded_at`` likewise, and the ledger allows one reversal per entry.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from sqlalchemy import Connection, select, update
from sqlalchemy.exc import IntegrityError

from billing_core import ledger
from billing_core.db import ledger_store, outbox_store
from billing_core.db.schema import subscribers
from billing_core.db.schema_ppv import ppv_events, ppv_purchases
from billing_core.db.subscriber_store import SubscriberRow, lock_subscriber
from billing_core.errors import (AlreadyBought, AlreadyExists, EventClosed, InsufficientWallet, SubscriberBlocked,
                                 UnknownEvent)
from billing_core.renewal import Status
from tv_notify import events
from tv_notify.texts import moment, notice, short_title

SCHEDULED, CANCELLED = "scheduled", "cancelled"


@dataclass(frozen=True, slots=True)
class Event:
    id: int
    code: str
    title: str
    starts_at: int
    ends_at: int
    tvu: int
    product: str
    status: str
    created_at: int
    cancelled_at: int | None

    def on_sale(self, now: int) -> bool:
        return self.status == SCHEDULED and self.ends_at > now


@dataclass(frozen=True, slots=True)
class Bought:
    purchase_id: int
    entry_id: int
    event: Event
    subscriber: SubscriberRow  # as it stands after the purchase


def _event(row) -> Event:
    return Event(row.id, row.code, row.title, row.starts_at, row.ends_at, row.tvu, row.product, row.status,
                 row.created_at, row.cancelled_at)


# ---- events ---------------------------------------------------------------------------------

def insert_event(conn: Connection, code: str, title: str, starts_at: int, ends_at: int, tvu: int, product: str,
                 now: int) -> Event:
    try:
        with conn.begin_nested():
            new_id = conn.execute(ppv_events.insert().values(
                code=code, title=title, starts_at=starts_at, ends_at=ends_at, tvu=tvu, product=product,
                status=SCHEDULED, created_at=now).returning(ppv_events.c.id)).scalar_one()
    except IntegrityError:
        raise AlreadyExists(f"event {code} exists already") from None
    return Event(new_id, code, title, starts_at, ends_at, tvu, product, SCHEDULED, now, None)


def event_by_code(conn: Connection, code: str, *, share_lock: bool = False) -> Event:
    query = select(ppv_events).where(ppv_events.c.code == code)
    if share_lock:  # PostgreSQL: FOR SHARE (a cancellation waits for this transaction); SQLite: nothing
        query = query.with_for_update(read=True)
    row = conn.execute(query).one_or_none()
    if row is None:
        raise UnknownEvent(f"no pay-per-view event {code}")
    return _event(row)


def list_events(conn: Connection, *, on_sale_at: int | None = None, limit: int = 500) -> list[Event]:
    """Every event by start time, or only those on sale at ``on_sale_at`` (scheduled, not over)."""
    query = select(ppv_events)
    if on_sale_at is not None:
        query = query.where(ppv_events.c.status == SCHEDULED, ppv_events.c.ends_at > on_sale_at)
    return [_event(r) for r in conn.execute(query.order_by(ppv_events.c.starts_at, ppv_events.c.code)
                                            .limit(limit)).all()]


def purchase_count(conn: Connection, event_id: int) -> int:
    from sqlalchemy import func

    return conn.execute(select(func.count()).select_from(ppv_purchases)
                        .where(ppv_purchases.c.event_id == event_id)).scalar_one()


# ---- purchase -------------------------------------------------------------------------------

def buy(conn: Connection, card: str, code: str, channel: str, msisdn: str, now: int) -> Bought:
    """Debit the wallet for the event, record the purchase once, grant the event's window, notify."""
    sub = lock_subscriber(conn, card)
    if sub.status is Status.SUSPENDED:
        raise SubscriberBlocked(f"card {card} is suspended")
    event = event_by_code(conn, code, share_lock=True)
    if not event.on_sale(now):
        raise EventClosed(f"event {code} is {'cancelled' if event.status == CANCELLED else 'over'}")
    already = conn.execute(select(ppv_purchases.c.id).where(ppv_purchases.c.subscriber_id == sub.id,
                                                            ppv_purchases.c.event_id == event.id)).first()
    if already is not None:
        raise AlreadyBought(f"card {card} has bought {code} already")
    if sub.wallet_tvu < event.tvu:
        raise InsufficientWallet(f"{code} costs {event.tvu} TVU, wallet holds {sub.wallet_tvu}")
    entry_id = ledger_store.post(conn, ledger.ppv_sale(card, event.tvu, f"ppv:{code}:{card}"), now)
    try:
        with conn.begin_nested():
            purchase_id = conn.execute(ppv_purchases.insert().values(
                event_id=event.id, subscriber_id=sub.id, tvu=event.tvu, channel=channel[:16], msisdn=msisdn,
                entry_id=entry_id, created_at=now).returning(ppv_purchases.c.id)).scalar_one()
    except IntegrityError:  # a concurrent purchase of this card won the unique key
        raise AlreadyBought(f"card {card} has bought {code} already") from None
    after = replace(sub, wallet_tvu=sub.wallet_tvu - event.tvu)
    text = notice("ppv_bought", sub.lang, title=short_title(event.title), card=card, start=moment(event.starts_at),
                  end=moment(event.ends_at), tvu=event.tvu, wallet=after.wallet_tvu)
    starts = event.starts_at if event.starts_at > now else None
    outbox_store.enqueue(conn, [events.grant(card, (event.product,), event.ends_at, sub.lang, starts=starts),
                                events.sms(card, sub.msisdn, text, sub.lang)], now)
    return Bought(purchase_id, entry_id, event, after)


# ---- revoke after the end -------------------------------------------------------------------

def revoke_ended_batch(conn: Connection, now: int, limit: int) -> dict[str, int]:
    """Revoke up to ``limit`` purchases whose event has ended and that nobody has revoked yet.

    Returns ``{"seen", "revoked"}``; a purchase another transaction revoked meanwhile is
    seen but not revoked again (the conditional UPDATE returns only the rows it changed).
    """
    due = conn.execute(
        select(ppv_purchases.c.id)
        .join(ppv_events, ppv_events.c.id == ppv_purchases.c.event_id)
        .where(ppv_purchases.c.revoked_at.is_(None), ppv_events.c.ends_at <= now)
        .order_by(ppv_purchases.c.id).limit(limit)).scalars().all()
    if not due:
        return {"seen": 0, "revoked": 0}
    mine = conn.execute(update(ppv_purchases)
                        .where(ppv_purchases.c.id.in_(due), ppv_purchases.c.revoked_at.is_(None))
                        .values(revoked_at=now).returning(ppv_purchases.c.id)).scalars().all()
    if mine:
        rows = conn.execute(
            select(subscribers.c.card, subscribers.c.lang, ppv_events.c.product)
            .select_from(ppv_purchases)
            .join(subscribers, subscribers.c.id == ppv_purchases.c.subscriber_id)
            .join(ppv_events, ppv_events.c.id == ppv_purchases.c.event_id)
            .where(ppv_purchases.c.id.in_(mine)).order_by(ppv_purchases.c.id)).all()
        outbox_store.enqueue(conn, [events.revoke(r.card, (r.product,), r.lang) for r in rows], now)
    return {"seen": len(due), "revoked": len(mine)}


# ---- cancellation ---------------------------------------------------------------------------

def cancel(conn: Connection, code: str, now: int) -> Event:
    """Take the event off sale (once); a cancelled event is returned as it is, so that a
    cancellation cut short can be run again to finish its refunds. An event that is over
    cannot be cancelled."""
    changed = conn.execute(update(ppv_events)
                           .where(ppv_events.c.code == code, ppv_events.c.status == SCHEDULED,
                                  ppv_events.c.ends_at > now)
                           .values(status=CANCELLED, cancelled_at=now)).rowcount
    event = event_by_code(conn, code)
    if not changed and event.status != CANCELLED:
        raise EventClosed(f"event {code} is over: it cannot be cancelled")
    return event


def refund_batch(conn: Connection, event: Event, now: int, limit: int) -> int:
    """Refund up to ``limit`` purchases of a cancelled event not refunded yet: a reversing
    ledger entry each, the entitlement revoked unless it was already, a notice. Returns how many."""
    rows = conn.execute(
        select(ppv_purchases.c.id, ppv_purchases.c.entry_id, ppv_purchases.c.tvu, subscribers.c.card)
        .join(subscribers, subscribers.c.id == ppv_purchases.c.subscriber_id)
        .where(ppv_purchases.c.event_id == event.id, ppv_purchases.c.refunded_at.is_(None))
        .order_by(subscribers.c.card).limit(limit)).all()
    done = 0
    for row in rows:
        sub = lock_subscriber(conn, row.card)  # the wallet is locked before any system balance
        taken = conn.execute(update(ppv_purchases)
                             .where(ppv_purchases.c.id == row.id, ppv_purchases.c.refunded_at.is_(None))
                             .values(refunded_at=now)).rowcount
        if not taken:
            continue
        refund_id = ledger_store.reverse(conn, row.entry_id, now, f"ppv {event.code} cancelled")
        revoking = conn.execute(update(ppv_purchases)
                                .where(ppv_purchases.c.id == row.id, ppv_purchases.c.revoked_at.is_(None))
                                .values(revoked_at=now, refund_entry_id=refund_id)).rowcount
        if not revoking:
            conn.execute(update(ppv_purchases).where(ppv_purchases.c.id == row.id)
                         .values(refund_entry_id=refund_id))
        text = notice("ppv_refunded", sub.lang, title=short_title(event.title), card=sub.card, tvu=row.tvu,
                      wallet=sub.wallet_tvu + row.tvu)
        notices = [events.revoke(sub.card, (event.product,), sub.lang)] if revoking else []
        outbox_store.enqueue(conn, notices + [events.sms(sub.card, sub.msisdn, text, sub.lang)], now)
        done += 1
    return done


__all__ = ["Event", "Bought", "insert_event", "event_by_code", "list_events", "purchase_count", "buy",
           "revoke_ended_batch", "cancel", "refund_batch", "SCHEDULED", "CANCELLED"]
