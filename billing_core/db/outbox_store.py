"""The outbox table: events written in the transaction that causes them, read by the dispatcher."""
from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Collection, Iterable

from sqlalchemy import Connection, and_, bindparam, func, select, update

from billing_core.db import unit
from billing_core.db.fast import Fast, insert_of
from billing_core.db.schema import outbox
from tv_notify.events import Event


_INSERT = Fast(insert_of(outbox, "event_id", "kind", "card", "payload", "created_at", "next_attempt_at"))


def enqueue(conn: Connection, events: Iterable[Event], now: int) -> list[str]:
    """Write ``events`` in order (at the end of the transaction); returns their event ids."""
    rows = [{"event_id": str(uuid.uuid4()), "kind": e.kind, "card": e.card,
             "payload": json.dumps(e.payload, separators=(",", ":")), "created_at": now,
             "next_attempt_at": now} for e in events]
    unit.deferred(conn).setdefault("outbox", []).extend(rows)
    return [r["event_id"] for r in rows]


def _flush(conn: Connection, pending: dict) -> None:
    _INSERT.many(conn, pending.get("outbox", ()))


unit.FLUSHERS.append(_flush)


@dataclass(frozen=True, slots=True)
class StoredEvent:
    id: int
    event_id: str
    kind: str
    card: str
    payload: dict
    attempts: int

    def body(self) -> dict:
        """The event as receivers get it: the payload plus its stable id."""
        return {"id": self.event_id, **self.payload}


def due(conn: Connection, now: int, limit: int, kinds: Collection[str] | None = None) -> list[StoredEvent]:
    """Pending events, oldest first, holding back every card whose oldest pending
    event is not due yet, so each card's events are delivered in order.

    With ``kinds``, only events of those kinds, and only those kinds hold a card
    back: one receiver's outage does not delay what goes to another.
    """
    blocked = select(outbox.c.card).where(outbox.c.status == "pending", outbox.c.next_attempt_at > now)
    query = select(outbox).where(outbox.c.status == "pending", outbox.c.next_attempt_at <= now)
    if kinds is not None:
        blocked = blocked.where(outbox.c.kind.in_(list(kinds)))
        query = query.where(outbox.c.kind.in_(list(kinds)))
    rows = conn.execute(
        query.where(outbox.c.card.not_in(blocked.scalar_subquery())).order_by(outbox.c.id).limit(limit)
    ).all()
    return [StoredEvent(r.id, r.event_id, r.kind, r.card, json.loads(r.payload), r.attempts) for r in rows]


_DELIVERED = Fast(update(outbox).where(outbox.c.id == bindparam("eid"), outbox.c.status == "pending")
                  .values(status="delivered", delivered_at=bindparam("now"), attempts=outbox.c.attempts + 1))


def mark_delivered(conn: Connection, ids: list[int], now: int) -> None:
    _DELIVERED.many(conn, [{"eid": event_id, "now": now} for event_id in ids])


def mark_failed(conn: Connection, event_id: int, now: int, retry_at: int, error: str, dead: bool) -> None:
    conn.execute(update(outbox).where(and_(outbox.c.id == event_id, outbox.c.status == "pending"))
                 .values(status="dead" if dead else "pending", next_attempt_at=retry_at,
                         attempts=outbox.c.attempts + 1, last_error=error[:500]))


def counts(conn: Connection) -> dict[str, int]:
    rows = conn.execute(select(outbox.c.status, func.count()).group_by(outbox.c.status)).all()
    return {status: int(n) for status, n in rows}


def for_card(conn: Connection, card: str, limit: int = 50) -> list[StoredEvent]:
    rows = conn.execute(select(outbox).where(outbox.c.card == card).order_by(outbox.c.id.desc()).limit(limit)).all()
    return [StoredEvent(r.id, r.event_id, r.kind, r.card, json.loads(r.payload), r.attempts) for r in rows]
