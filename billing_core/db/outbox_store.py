"""The outbox table: events written in the transaction that causes them, delivered by dispatchers.

Delivery across processes (see ``tv_notify.dispatcher``):

- :func:`claim` takes due events for one dispatcher: it sets ``claimed_by`` and
  ``lease_until`` on them, so no other dispatcher takes them until the lease runs
  out. On PostgreSQL the candidates are read ``FOR UPDATE SKIP LOCKED``, so two
  dispatchers claiming at once never wait on each other nor take the same row.
- Order per card: an event is claimed only when every earlier pending event of its
  card (among the same kinds) is claimed with it. A card with an event waiting for
  a retry or leased by another dispatcher, or whose earlier event another claim has
  just locked, is left alone entirely (checked again after the rows are locked, on
  a fresh snapshot, so a claim racing another one cannot overtake it).
- A crashed dispatcher's leases simply expire; :func:`extend` keeps a slow batch's
  leases alive; recording an outcome clears the lease.

Worker leases (:func:`take_lease`) give one process at a time a named job (the
scheduler); the row's conditional update decides, on both databases.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, replace
from typing import Collection, Iterable, Sequence

from sqlalchemy import BigInteger, Connection, String, and_, bindparam, func, or_, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY

from billing_core.db import entitlement_store, unit
from billing_core.db.dialect import insert_ignore
from billing_core.db.fast import Fast, insert_of
from billing_core.db.schema import outbox
from billing_core.db.schema_notify import worker_leases
from tv_notify.events import REVOKE, Event

PENDING, DELIVERED, DEAD = "pending", "delivered", "dead"
# A committed transaction that made events due raises this signal (``unit.signal``): the
# dispatcher of this process listens for it. On PostgreSQL a process that runs no dispatcher
# (a CLI command) also sends a NOTIFY on CHANNEL, which the dispatchers of the gateway
# processes LISTEN on (``Database.listen``).
ENQUEUED = "outbox.enqueued"
CHANNEL = "tvtopup_outbox"
unit.CHANNELS[ENQUEUED] = CHANNEL
STATUSES = (PENDING, DELIVERED, DEAD)

_COLUMNS = ("event_id", "kind", "card", "payload", "created_at", "next_attempt_at")
_INSERT = Fast(insert_of(outbox, *_COLUMNS))
# Many rows at once (the expiry sweep) on PostgreSQL: one statement over arrays, about half
# the cost per row of a pipelined executemany.
_INSERT_ARRAYS = Fast(text(f"INSERT INTO outbox ({', '.join(_COLUMNS)}) SELECT * FROM unnest("
                           + ", ".join(f":{c}" for c in _COLUMNS) + ")").bindparams(
    *(bindparam(c, type_=ARRAY(BigInteger if c.endswith("_at") else String)) for c in _COLUMNS)))
_ARRAYS_FROM = 64


_ENCODE = json.JSONEncoder(separators=(",", ":")).encode


def enqueue(conn: Connection, events: Iterable[Event], now: int, *,
            delays_s: Sequence[int] | None = None) -> list[str]:
    """Write ``events`` in order (at the end of the transaction); returns their event ids.
    ``delays_s`` (one per event) holds each back that many seconds (a throttled broadcast)."""
    events = list(events)
    delays = delays_s or [0] * len(events)
    rows = [{"event_id": event_id, "kind": e.kind, "card": e.card, "payload": _ENCODE(e.payload),
             "created_at": now, "next_attempt_at": now + delay}
            for event_id, e, delay in zip(new_event_ids(len(events)), events, delays)]
    unit.deferred(conn).setdefault("outbox", []).extend(rows)
    unit.signal(conn, ENQUEUED)
    return [r["event_id"] for r in rows]


def new_event_ids(n: int) -> list[str]:
    """``n`` new event ids: time-ordered UUIDs (version 7: 48 bits of milliseconds, 74 random bits).

    Unique like any random UUID, but ids written together sort together, so the
    outbox's unique index grows at one end instead of everywhere at once: a large
    batch (the expiry sweep) touches a few index pages rather than thousands.
    """
    stamp = (time.time_ns() // 1_000_000).to_bytes(6, "big")
    raw = os.urandom(10 * n)
    ids = []
    for i in range(0, 10 * n, 10):
        tail = bytearray(raw[i:i + 10])
        tail[0] = (tail[0] & 0x0F) | 0x70  # version 7
        tail[2] = (tail[2] & 0x3F) | 0x80  # RFC 4122 variant
        h = (stamp + tail).hex()
        ids.append(f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}")
    return ids


def _flush(conn: Connection, pending: dict) -> None:
    rows = pending.get("outbox", ())
    if not rows:
        return
    entitlement_store.with_paid(conn, rows, REVOKE)  # what the card keeps, as this transaction leaves it
    if len(rows) >= _ARRAYS_FROM and conn.dialect.name == "postgresql":
        _INSERT_ARRAYS.execute(conn, {c: [r[c] for r in rows] for c in _COLUMNS})
    else:
        _INSERT.many(conn, rows)


unit.FLUSHERS.append(_flush)


@dataclass(frozen=True, slots=True)
class StoredEvent:
    id: int
    event_id: str
    kind: str
    card: str
    payload: dict
    attempts: int
    sends: int = 0  # deliveries begun, this one included once claimed (crashed ones too)

    def body(self) -> dict:
        """The event as receivers get it: the payload plus its stable id."""
        return {"id": self.event_id, **self.payload}


def _stored(r) -> StoredEvent:
    return StoredEvent(r.id, r.event_id, r.kind, r.card, json.loads(r.payload), r.attempts, r.sends)


def due(conn: Connection, now: int, limit: int, kinds: Collection[str] | None = None) -> list[StoredEvent]:
    """Pending events, oldest first, holding back every card whose oldest pending
    event is not due yet, so each card's events are delivered in order.

    With ``kinds``, only events of those kinds, and only those kinds hold a card
    back: one receiver's outage does not delay what goes to another. Reads only;
    dispatchers use :func:`claim`.
    """
    blocked = select(outbox.c.card).where(outbox.c.status == PENDING, outbox.c.next_attempt_at > now)
    query = select(outbox).where(outbox.c.status == PENDING, outbox.c.next_attempt_at <= now)
    if kinds is not None:
        blocked = blocked.where(outbox.c.kind.in_(list(kinds)))
        query = query.where(outbox.c.kind.in_(list(kinds)))
    rows = conn.execute(
        query.where(outbox.c.card.not_in(blocked.scalar_subquery())).order_by(outbox.c.id).limit(limit)
    ).all()
    return [_stored(r) for r in rows]


# ---- claims and leases ------------------------------------------------------------------------

SCAN_ROWS_MIN = 500  # outbox rows read per step while looking for candidates
SCANS_MAX = 20  # steps per claim
CANDIDATES_FACTOR = 3  # candidates locked per event claimed


def claim(conn: Connection, now: int, limit: int, kinds: Collection[str], holder: str,
          lease_s: int) -> list[StoredEvent]:
    """Due events of ``kinds`` for ``holder``, oldest first, leased until ``now + lease_s``.

    Each card's claimed events are a prefix of its pending events: nothing of a card
    is claimed while one of its events (same kinds) waits for a retry or is leased by
    someone else, nor while an earlier one is locked by a concurrent claim.

    Every statement here is cheap whatever plan the database picks, because each
    has one obvious access path: the primary key (from the oldest pending event on),
    or the ``(card, id)`` index. Filters on ``status`` are written so that no index
    matches them (:func:`_unindexed`): statistics that say pending events are rare
    (true most of the time, false in exactly the backlog when speed matters) would
    otherwise lead the planner to read every pending event in each statement.
    """
    kinds = list(kinds)
    # more candidates than needed: a concurrent claim may hold (lock) the first ones
    picked, first = _candidates(conn, now, CANDIDATES_FACTOR * limit, set(kinds))
    if not picked:
        return []
    rows = conn.execute(
        select(outbox).where(outbox.c.id.in_(picked), _unindexed(outbox.c.status) == PENDING,
                             outbox.c.next_attempt_at <= now,
                             or_(outbox.c.lease_until.is_(None), outbox.c.lease_until <= now))
        .order_by(outbox.c.id).limit(limit).with_for_update(skip_locked=True, of=outbox)
    ).all()  # locks up to ``limit`` rows, in id order, passing over those another claim holds
    if not rows:
        return []
    kept = _prefixes(conn, rows, kinds, first)
    if kept:
        conn.execute(update(outbox).where(outbox.c.id.in_(sorted(kept)))
                     .values(claimed_by=holder, lease_until=now + lease_s, sends=outbox.c.sends + 1))
    return [replace(_stored(r), sends=r.sends + 1) for r in rows if r.id in kept]


_SCAN_COLUMNS = (outbox.c.id, outbox.c.card, outbox.c.kind, outbox.c.status, outbox.c.next_attempt_at,
                 outbox.c.lease_until)


def _candidates(conn: Connection, now: int, limit: int, kinds: set[str]) -> tuple[list[int], int]:
    """Up to ``limit`` due, unleased event ids of cards with nothing waiting or leased, oldest
    first; and the oldest pending event id.

    Walks the outbox by primary key, a step of rows at a time, each step starting at
    the next pending event (``min(id)`` over the ``(status, id)`` index: one probe,
    whatever the statistics say, so a stretch of delivered events behind one that
    waits for its retry costs nothing), filtering here rather than in SQL. A card's
    events wait behind its oldest pending one, so whatever blocks a card comes before
    its due events and the walk has seen it. (The one exception is an operator's
    choice: a dead event sent again goes at the next claim, whatever its card's later
    events are doing; they were delivered ahead of it already when it died.)
    """
    step = max(SCAN_ROWS_MIN, 4 * limit)
    due: list[tuple[int, str]] = []
    blocked: set[str] = set()
    first = start = None
    for _ in range(SCANS_MAX):
        start = conn.execute(select(func.min(outbox.c.id))
                             .where(outbox.c.status == PENDING, outbox.c.id >= (start or 0))).scalar()
        if start is None:
            break
        first = start if first is None else first
        rows = conn.execute(select(*_SCAN_COLUMNS).where(outbox.c.id >= start).order_by(outbox.c.id)
                            .limit(step)).all()
        for r in rows:
            if r.status != PENDING or r.kind not in kinds:
                continue
            if r.next_attempt_at > now or (r.lease_until is not None and r.lease_until > now):
                blocked.add(r.card)
            elif r.card not in blocked:
                due.append((r.id, r.card))
        if len(rows) < step or len(due) >= limit:
            break
        start = rows[-1].id + 1
    return [event_id for event_id, _ in due[:limit]], first or 0  # id order: each card's events stay a prefix


def _prefixes(conn: Connection, rows, kinds: list[str], first: int) -> set[int]:
    """Of the rows locked, those not preceded by a pending event of their card outside the claim.

    Read on a fresh snapshot (a new statement): an earlier event another claim holds
    (locked, so skipped above, and still ``pending`` here) drops its card from this
    claim. Pending events are all at or past ``first``.
    """
    mine = {r.id for r in rows}
    cards = sorted({r.card for r in rows})
    pending = conn.execute(
        select(outbox.c.id, outbox.c.card)
        .where(outbox.c.card.in_(cards), outbox.c.id >= first, outbox.c.id <= max(mine),
               _unindexed(outbox.c.status) == PENDING, outbox.c.kind.in_(kinds))
        .order_by(outbox.c.id)
    ).all()
    kept: set[int] = set()
    broken: set[str] = set()
    for event_id, card in pending:
        if card in broken:
            continue
        if event_id in mine:
            kept.add(event_id)
        else:
            broken.add(card)
    return kept


def _unindexed(status):
    """``status || ''``: the same test, but no index matches it, so the planner takes the
    index the rest of the statement names (the primary key, or ``(card, id)``)."""
    return status + ""


def extend(conn: Connection, ids: Collection[int], holder: str, lease_until: int) -> int:
    """Keep ``holder``'s leases on ``ids`` (still pending) until ``lease_until``; returns how many."""
    if not ids:
        return 0
    return conn.execute(update(outbox).where(outbox.c.id.in_(sorted(ids)), outbox.c.claimed_by == holder,
                                             outbox.c.status == PENDING)
                        .values(lease_until=lease_until)).rowcount


def release(conn: Connection, ids: Collection[int], holder: str) -> None:
    """Give back ``holder``'s claim on events it did not attempt (they stay pending, due as before)."""
    if ids:
        conn.execute(update(outbox).where(outbox.c.id.in_(sorted(ids)), outbox.c.claimed_by == holder)
                     .values(claimed_by=None, lease_until=None))


def resume(conn: Connection, now: int, due_by: int) -> int:
    """Bring every pending retry due after ``due_by`` forward to ``due_by`` (at a dispatcher's start)."""
    return conn.execute(update(outbox).where(outbox.c.status == PENDING, outbox.c.next_attempt_at > due_by)
                        .values(next_attempt_at=due_by)).rowcount


_DELIVERED = Fast(update(outbox).where(outbox.c.id == bindparam("eid"), outbox.c.status == PENDING)
                  .values(status=DELIVERED, delivered_at=bindparam("now"), attempts=outbox.c.attempts + 1,
                          claimed_by=None, lease_until=None))


def mark_delivered(conn: Connection, ids: list[int], now: int) -> None:
    _DELIVERED.many(conn, [{"eid": event_id, "now": now} for event_id in ids])


def mark_failed(conn: Connection, event_id: int, now: int, retry_at: int, error: str, dead: bool,
                holder: str | None = None) -> None:
    """Record a failed attempt; with ``holder``, only while that dispatcher still holds the claim."""
    where = [outbox.c.id == event_id, outbox.c.status == PENDING]
    if holder is not None:
        where.append(outbox.c.claimed_by == holder)
    conn.execute(update(outbox).where(and_(*where))
                 .values(status=DEAD if dead else PENDING, next_attempt_at=retry_at,
                         attempts=outbox.c.attempts + 1, last_error=error[:500], claimed_by=None, lease_until=None))


# ---- operators and metrics ----------------------------------------------------------------------

def counts(conn: Connection) -> dict[str, int]:
    rows = conn.execute(select(outbox.c.status, func.count()).group_by(outbox.c.status)).all()
    return {status: int(n) for status, n in rows}


def oldest_pending_at(conn: Connection) -> int | None:
    """When the oldest pending event was written (the dispatch lag is now minus this)."""
    return conn.execute(select(outbox.c.created_at).where(outbox.c.status == PENDING)
                        .order_by(outbox.c.id).limit(1)).scalar_one_or_none()


def for_card(conn: Connection, card: str, limit: int = 50) -> list[StoredEvent]:
    rows = conn.execute(select(outbox).where(outbox.c.card == card).order_by(outbox.c.id.desc()).limit(limit)).all()
    return [_stored(r) for r in rows]


@dataclass(frozen=True, slots=True)
class EventRecord:
    """An outbox row as operators see it."""

    seq: int
    event_id: str
    kind: str
    card: str
    payload: dict
    status: str
    attempts: int
    next_attempt_at: int
    last_error: str
    created_at: int
    delivered_at: int | None
    claimed_by: str | None
    lease_until: int | None


def _record(r) -> EventRecord:
    return EventRecord(r.id, r.event_id, r.kind, r.card, json.loads(r.payload), r.status, r.attempts,
                       r.next_attempt_at, r.last_error, r.created_at, r.delivered_at, r.claimed_by, r.lease_until)


def list_events(conn: Connection, *, status: str | None = None, card: str | None = None,
                limit: int = 50) -> list[EventRecord]:
    """Newest first."""
    query = select(outbox)
    if status is not None:
        query = query.where(outbox.c.status == status)
    if card is not None:
        query = query.where(outbox.c.card == card)
    return [_record(r) for r in conn.execute(query.order_by(outbox.c.id.desc()).limit(limit)).all()]


def find_event(conn: Connection, key: str) -> EventRecord | None:
    """By event id (the UUID receivers see) or by sequence number."""
    if key.isdigit() and len(key) > 18:  # no such sequence number (and past a BIGINT)
        return None
    where = outbox.c.id == int(key) if key.isdigit() else outbox.c.event_id == key
    row = conn.execute(select(outbox).where(where)).one_or_none()
    return None if row is None else _record(row)


def requeue(conn: Connection, seqs: Collection[int], now: int) -> int:
    """Dead events back to pending, due now, with a fresh count of attempts.

    A requeued event keeps its place (its sequence number) in its card's order, so it
    goes before any later pending event of that card.
    """
    if not seqs:
        return 0
    return _made_due(conn, conn.execute(
        update(outbox).where(outbox.c.id.in_(sorted(seqs)), outbox.c.status == DEAD)
        .values(status=PENDING, attempts=0, next_attempt_at=now, claimed_by=None, lease_until=None)).rowcount)


def dead_seqs(conn: Connection, limit: int) -> list[int]:
    return list(conn.execute(select(outbox.c.id).where(outbox.c.status == DEAD).order_by(outbox.c.id)
                             .limit(limit)).scalars())


def hurry(conn: Connection, seq: int, now: int) -> int:
    """A pending event waiting for its retry: due now."""
    return _made_due(conn, conn.execute(update(outbox).where(outbox.c.id == seq, outbox.c.status == PENDING,
                                                             outbox.c.next_attempt_at > now)
                                        .values(next_attempt_at=now)).rowcount)


def _made_due(conn: Connection, n: int) -> int:
    """``n`` events became due by an update (an operator's retry): wake the dispatchers."""
    if n:
        unit.signal(conn, ENQUEUED)
    return n


# ---- worker leases ------------------------------------------------------------------------------

def take_lease(conn: Connection, name: str, holder: str, now: int, lease_s: int) -> bool:
    """Hold the job ``name`` until ``now + lease_s`` if it is free, expired, or ours already."""
    conn.execute(insert_ignore(conn, worker_leases, "name").values(name=name, holder="", lease_until=0))
    taken = conn.execute(update(worker_leases)
                         .where(worker_leases.c.name == name,
                                or_(worker_leases.c.holder == holder, worker_leases.c.lease_until <= now))
                         .values(holder=holder, lease_until=now + lease_s)).rowcount
    return taken == 1


def drop_lease(conn: Connection, name: str, holder: str) -> None:
    """Let go of ``name`` at once (a clean stop), if ``holder`` has it."""
    conn.execute(update(worker_leases).where(worker_leases.c.name == name, worker_leases.c.holder == holder)
                 .values(holder="", lease_until=0))


def lease_holder(conn: Connection, name: str, now: int) -> str | None:
    row = conn.execute(select(worker_leases).where(worker_leases.c.name == name)).one_or_none()
    return row.holder if row is not None and row.lease_until > now and row.holder else None
