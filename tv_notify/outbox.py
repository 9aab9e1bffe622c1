"""What operators do with the outbox: list events, show one, send a dead one again.

``tvtopup events list|show|retry`` call these. An event is named by its id (the
UUID receivers see and de-duplicate by) or by its sequence number (``seq``, its
place in the outbox: order per card is order of ``seq``).

Retry: a dead event goes back to pending with a fresh count of attempts and is
due at once; it keeps its ``seq``, so it is delivered before any later pending
event of its card, and the dispatcher holds those back until it is delivered (or
dead again). A pending event waiting for a retry becomes due now. A delivered
event is not sent again (``event_delivered``).

Refusals: ``unknown_event`` (404), ``event_delivered`` (409).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from billing_core.context import Billing
from billing_core.db import outbox_store
from billing_core.db.outbox_store import DEAD, DELIVERED, STATUSES, EventRecord
from billing_core.errors import Conflict, InvalidInput, NotFound
from billing_core.phones import mask
from billing_core.renewal import iso
from tv_notify.events import SMS

LIMIT_MAX = 10_000
RETRY_ALL_MAX = 100_000


class UnknownEvent(NotFound):
    code = "unknown_event"


class EventDelivered(Conflict):
    code = "event_delivered"


def event_json(record: EventRecord, *, full: bool = False) -> dict[str, Any]:
    """An event as operators see it; phone numbers masked."""
    payload = dict(record.payload)
    if record.kind == SMS and payload.get("msisdn"):
        payload["msisdn"] = mask(str(payload["msisdn"]))
    out: dict[str, Any] = {
        "seq": record.seq, "id": record.event_id, "event": record.kind, "card": record.card,
        "status": record.status, "attempts": record.attempts, "created_at": iso(record.created_at),
        "next_attempt_at": iso(record.next_attempt_at) if record.status == "pending" else None,
        "delivered_at": iso(record.delivered_at), "last_error": record.last_error,
    }
    if full:
        out["claimed_by"] = record.claimed_by
        out["lease_until"] = iso(record.lease_until)
        out["payload"] = payload
    return out


async def list_events(billing: Billing, *, status: str | None = None, card: str | None = None,
                      limit: int = 50) -> list[EventRecord]:
    """Newest first."""
    if status is not None and status not in STATUSES:
        raise InvalidInput(f"status is one of {', '.join(STATUSES)}")
    if type(limit) is not int or not 1 <= limit <= LIMIT_MAX:
        raise InvalidInput(f"limit is from 1 to {LIMIT_MAX}")
    card = billing.card(card) if card else None
    return await billing.db.read(outbox_store.list_events, status=status, card=card, limit=limit)


async def show_event(billing: Billing, key: str) -> EventRecord:
    found = await billing.db.read(outbox_store.find_event, _key(key))
    if found is None:
        raise UnknownEvent(f"no event {key}")
    return found


@dataclass(frozen=True, slots=True)
class Retried:
    requeued: int  # dead events back to pending
    hurried: int  # pending events made due now


async def retry_event(billing: Billing, key: str) -> Retried:
    """Send one event again: a dead one goes back to pending; a pending one is due now."""
    key = _key(key)
    now = billing.now()

    def tx(conn):
        found = outbox_store.find_event(conn, key)
        if found is None:
            raise UnknownEvent(f"no event {key}")
        if found.status == DELIVERED:
            raise EventDelivered(f"event {found.event_id} was delivered at {iso(found.delivered_at)}")
        if found.status == DEAD:
            return Retried(outbox_store.requeue(conn, [found.seq], now), 0)
        return Retried(0, outbox_store.hurry(conn, found.seq, now))

    return await billing.db.write(tx)


async def retry_dead(billing: Billing) -> Retried:
    """Every dead event back to pending (oldest first), each in its place for its card."""
    now = billing.now()

    def tx(conn):
        return Retried(outbox_store.requeue(conn, outbox_store.dead_seqs(conn, RETRY_ALL_MAX), now), 0)

    return await billing.db.write(tx)


def _key(key: str) -> str:
    key = (key or "").strip()
    if not key or len(key) > 36 or not all(c.isalnum() or c == "-" for c in key):
        raise InvalidInput("an event is named by its id (UUID) or its seq number")
    return key


__all__ = ["EventDelivered", "Retried", "UnknownEvent", "event_json", "list_events", "retry_dead", "retry_event",
           "show_event"]
