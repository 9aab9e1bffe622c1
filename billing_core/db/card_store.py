"""Scratch cards in the database: the transaction bodies of their use cases.

Redemption is one conditional update on the PIN's hash::

    UPDATE cards SET state = 'redeemed', …
     WHERE pin_hash = :h AND key_version = :v AND state = 'activated'
       AND (expires_at IS NULL OR expires_at > :now)
    RETURNING …

run after the subscriber is locked. Of any number of concurrent redemptions of one
PIN, on SQLite (one writer) or PostgreSQL (the row lock, then the re-checked WHERE
under READ COMMITTED), exactly one gets the row back; the others get nothing and
credit nothing. Lock order: subscriber, then card, then (deferred, sorted) balances.
"""
from __future__ import annotations

from collections import defaultdict, namedtuple
from dataclasses import dataclass, replace

from sqlalchemy import Connection, and_, bindparam, case, func, or_, select, text, update
from sqlalchemy.exc import IntegrityError

from billing_core import card_ledger, pins
from billing_core.db import ledger_store, lockout_store, subscriber_store, unit
from billing_core.db.dialect import exact_sum, insert_ignore
from billing_core.db.fast import Fast
from billing_core.db.schema import accounts, journal_entries, packages, postings, subscribers
from billing_core.db.schema_cards import card_batches, cards
from billing_core.db.subscriber_store import Package, SubscriberRow
from billing_core.errors import AlreadyExists, Conflict, InvalidInput, NotFound, SubscriberBlocked
from billing_core.lockouts import LockoutPolicy, keys_for
from billing_core.renewal import Status, iso

TVU_CARD, PACKAGE_CARD = "tvu", "package"


@dataclass(frozen=True, slots=True)
class Batch:
    id: int
    name: str
    kind: str
    tvu: int | None
    package: Package | None
    count: int
    expires_at: int | None
    pin_length: int
    key_version: int
    state: str
    created_by: str
    created_at: int
    generated_at: int | None

    @property
    def value(self) -> str:
        """What a card of the batch is worth, as printed: ``TVU 100`` or the package code."""
        return f"TVU {self.tvu}" if self.kind == TVU_CARD else self.package.code

    def serials(self) -> tuple[str, str]:
        return pins.serial(self.id, 1), pins.serial(self.id, self.count)

    def to_json(self) -> dict:
        first, last = self.serials()
        return {"batch": self.name, "number": self.id, "kind": self.kind, "value": self.value,
                "count": self.count, "first_serial": first, "last_serial": last,
                "expires_at": iso(self.expires_at), "key_version": self.key_version, "state": self.state,
                "created_by": self.created_by, "created_at": iso(self.created_at),
                "generated_at": iso(self.generated_at)}


_BATCH_COLUMNS = (
    card_batches.c.id, card_batches.c.name, card_batches.c.kind, card_batches.c.tvu, card_batches.c.count,
    card_batches.c.expires_at, card_batches.c.pin_length, card_batches.c.key_version, card_batches.c.state,
    card_batches.c.created_by, card_batches.c.created_at, card_batches.c.generated_at,
    packages.c.id.label("package_id"), packages.c.code.label("package_code"),
    packages.c.name.label("package_name"), packages.c.days.label("package_days"),
    packages.c.tvu.label("package_tvu"), packages.c.products.label("package_products"),
    packages.c.active.label("package_active"),
)
_SELECT_BATCH = select(*_BATCH_COLUMNS).outerjoin(packages, packages.c.id == card_batches.c.package_id)


def _batch(r) -> Batch:
    package = None
    if r.package_id is not None:
        package = Package(r.package_id, r.package_code, r.package_name, r.package_days, r.package_tvu,
                          tuple(p for p in (r.package_products or "").split(",") if p), bool(r.package_active))
    return Batch(r.id, r.name, r.kind, r.tvu, package, r.count, r.expires_at, r.pin_length, r.key_version,
                 r.state, r.created_by, r.created_at, r.generated_at)


def batch_by_name(conn: Connection, name: str) -> Batch:
    row = conn.execute(_SELECT_BATCH.where(card_batches.c.name == name)).one_or_none()
    if row is None:
        raise NotFound(f"no card batch {name}")
    return _batch(row)


def batch_by_id(conn: Connection, batch_id: int) -> Batch:
    row = conn.execute(_SELECT_BATCH.where(card_batches.c.id == batch_id)).one_or_none()
    if row is None:
        raise NotFound(f"no card batch number {batch_id}")
    return _batch(row)


# ---- generation -----------------------------------------------------------------------

def insert_batch(conn: Connection, name: str, kind: str, tvu: int | None, package_code: str | None, count: int,
                 expires_at: int | None, pin_length: int, key_version: int, created_by: str, now: int) -> Batch:
    """A new batch in state ``generating``; refuses a name used before (PINs are exported once)."""
    package_id = None
    if kind == PACKAGE_CARD:
        package = subscriber_store.package_by_code(conn, package_code)
        if package.tvu <= 0:
            raise InvalidInput(f"package {package.code} is free: a card cannot be worth it")
        package_id = package.id
    try:
        with conn.begin_nested():
            batch_id = conn.execute(card_batches.insert().values(
                name=name, kind=kind, tvu=tvu, package_id=package_id, count=count, expires_at=expires_at,
                pin_length=pin_length, key_version=key_version, state="generating", created_by=created_by[:64],
                created_at=now).returning(card_batches.c.id)).scalar_one()
    except IntegrityError:
        raise AlreadyExists(f"batch {name} exists already: a batch is generated, and its PINs exported, once") \
            from None
    if batch_id > pins.BATCH_MAX:
        raise Conflict(f"no batch numbers left (serials hold {pins.BATCH_MAX} batches)")
    return batch_by_id(conn, batch_id)


_INSERT_CARDS = Fast(lambda name: insert_ignore(name, cards, "pin_hash").values(
    batch_id=bindparam("b"), seq=bindparam("s"), pin_hash=bindparam("h"), key_version=bindparam("v"),
    expires_at=bindparam("x")))
# PostgreSQL: a whole chunk in one statement, its seqs and hashes as two arrays (binary protocol).
_INSERT_CARDS_PG = text(
    "INSERT INTO cards (batch_id, seq, pin_hash, key_version, expires_at)"
    " SELECT CAST(:b AS bigint), t.s, t.h, CAST(:v AS smallint), CAST(:x AS bigint)"
    " FROM unnest(CAST(:seqs AS integer[]), CAST(:hashes AS bytea[])) AS t(s, h)"
    " ON CONFLICT (pin_hash) DO NOTHING")
_COUNT_RANGE = Fast(select(func.count()).select_from(cards).where(
    cards.c.batch_id == bindparam("b"), cards.c.seq.between(bindparam("lo"), bindparam("hi"))))


def insert_cards(conn: Connection, batch_id: int, key_version: int, expires_at: int | None,
                 rows: list[tuple[int, bytes]], lo: int, hi: int) -> list[int]:
    """Insert cards (seq, pin hash) of the range [lo, hi]; returns the seqs of the range
    still missing: their PIN's hash collided with another card's and needs a new PIN."""
    if conn.dialect.name == "postgresql":
        # Not durable on its own: the batch becomes usable only at finish_batch, whose
        # (synchronous) commit flushes this one too. Saves a WAL flush per chunk.
        conn.execute(text("SET LOCAL synchronous_commit = off"))
        conn.execute(_INSERT_CARDS_PG, {"b": batch_id, "v": key_version, "x": expires_at,
                                        "seqs": [s for s, _h in rows], "hashes": [h for _s, h in rows]})
    else:
        _INSERT_CARDS.many(conn, ({"b": batch_id, "s": s, "h": h, "v": key_version, "x": expires_at}
                                  for s, h in rows))
    if _COUNT_RANGE.scalar(conn, {"b": batch_id, "lo": lo, "hi": hi}) == hi - lo + 1:
        return []
    found = set(conn.execute(select(cards.c.seq).where(cards.c.batch_id == batch_id,
                                                       cards.c.seq.between(lo, hi))).scalars())
    return [s for s in range(lo, hi + 1) if s not in found]


def finish_batch(conn: Connection, batch_id: int, now: int) -> Batch:
    conn.execute(update(card_batches).where(card_batches.c.id == batch_id, card_batches.c.state == "generating")
                 .values(state="generated", generated_at=now))
    return batch_by_id(conn, batch_id)


def discard_batch(conn: Connection, batch_id: int) -> None:
    """Forget a batch whose generation failed (its printer file is deleted too)."""
    conn.execute(cards.delete().where(cards.c.batch_id == batch_id))
    conn.execute(card_batches.delete().where(card_batches.c.id == batch_id, card_batches.c.state == "generating"))


# ---- activation and blocking ------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Activated:
    batch: str
    first_serial: str
    last_serial: str
    activated: int
    unchanged: int  # in the range but not generated (already activated, blocked, redeemed)
    value_tvu: int  # of each card
    dealer: str | None

    def to_json(self) -> dict:
        return {"batch": self.batch, "serials": f"{self.first_serial}-{self.last_serial}",
                "activated": self.activated, "unchanged": self.unchanged, "value_tvu": self.value_tvu,
                "total_tvu": self.value_tvu * self.activated, "dealer": self.dealer}


def activate(conn: Connection, name: str, lo: int | None, hi: int | None, dealer: str | None, now: int,
             operator: str) -> Activated:
    """Activate the generated cards of batch ``name`` (seqs lo..hi, default all) and move
    their value into the card liability."""
    batch = batch_by_name(conn, name)
    if batch.state != "generated":
        raise Conflict(f"batch {name} was not generated completely; it cannot be activated")
    if batch.expires_at is not None and batch.expires_at <= now:
        raise Conflict(f"batch {name} expired on {iso(batch.expires_at)}")
    lo, hi = lo or 1, hi or batch.count
    if not 1 <= lo <= hi <= batch.count:
        raise InvalidInput(f"batch {name} holds cards 1 to {batch.count}")
    if dealer is not None:
        from billing_core.db.dealer_store import check_card_dealer  # dealer_store reads cards too

        check_card_dealer(conn, dealer)
    value = batch.tvu if batch.kind == TVU_CARD else batch.package.tvu
    if not value:
        raise Conflict(f"package {batch.package.code} is free now: its cards cannot be activated")
    activated = conn.execute(update(cards).where(
        cards.c.batch_id == batch.id, cards.c.seq.between(lo, hi), cards.c.state == "generated",
    ).values(state="activated", activated_at=now, dealer=dealer, value_tvu=value)).rowcount
    first, last = pins.serial(batch.id, lo), pins.serial(batch.id, hi)
    if activated:
        memo = f"{activated} cards {first}-{last}" + (f" dealer {dealer}" if dealer else "")
        ledger_store.post(conn, card_ledger.activation(batch.id, value * activated, memo[:255]), now,
                          created_by=operator)
    return Activated(name, first, last, activated, hi - lo + 1 - activated, value, dealer)


@dataclass(frozen=True, slots=True)
class Blocked:
    blocked: int
    value_tvu: int  # withdrawn from the card liability
    already_blocked: int
    redeemed: int  # in the ranges but redeemed already: look at who redeemed them

    def to_json(self) -> dict:
        return {"blocked": self.blocked, "value_tvu": self.value_tvu, "already_blocked": self.already_blocked,
                "redeemed": self.redeemed}


def block(conn: Connection, ranges: list[tuple[int, int, int]], now: int, operator: str) -> Blocked:
    """Block every card of the (batch number, lo, hi) ranges that is not redeemed; all or none."""
    withdrawn: dict[int, int] = defaultdict(int)
    blocked = 0
    for batch_id, lo, hi in ranges:
        batch = batch_by_id(conn, batch_id)
        if hi > batch.count:
            raise NotFound(f"batch {batch.name} holds cards up to {pins.serial(batch.id, batch.count)}")
        in_range = and_(cards.c.batch_id == batch_id, cards.c.seq.between(lo, hi))
        values = conn.execute(update(cards).where(in_range, cards.c.state == "activated")
                              .values(state="blocked", blocked_at=now).returning(cards.c.value_tvu)).scalars().all()
        withdrawn[batch_id] += sum(values)
        blocked += len(values) + conn.execute(update(cards).where(in_range, cards.c.state == "generated")
                                              .values(state="blocked", blocked_at=now)).rowcount
    for batch_id, value in sorted(withdrawn.items()):
        if value:
            ledger_store.post(conn, card_ledger.blocking(batch_id, value, "cards blocked"), now, created_by=operator)
    states = _states_in(conn, ranges)
    return Blocked(blocked, sum(withdrawn.values()), states.get("blocked", 0) - blocked, states.get("redeemed", 0))


def _states_in(conn: Connection, ranges: list[tuple[int, int, int]]) -> dict[str, int]:
    where = or_(*(and_(cards.c.batch_id == b, cards.c.seq.between(lo, hi)) for b, lo, hi in ranges))
    rows = conn.execute(select(cards.c.state, func.count()).where(where).group_by(cards.c.state)).all()
    return {state: n for state, n in rows}


# ---- one card ---------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class CardInfo:
    serial: str
    batch: str
    kind: str
    value: str
    state: str  # generated | activated | redeemed | blocked | expired
    value_tvu: int
    expires_at: int | None
    dealer: str | None
    activated_at: int | None
    blocked_at: int | None
    redeemed_at: int | None
    redeemed_msisdn: str | None
    redeemed_card: str | None
    redeemed_channel: str | None
    entry_id: int | None
    key_version: int

    def to_json(self) -> dict:
        return {"serial": self.serial, "batch": self.batch, "kind": self.kind, "value": self.value,
                "state": self.state, "value_tvu": self.value_tvu, "expires_at": iso(self.expires_at),
                "dealer": self.dealer, "activated_at": iso(self.activated_at), "blocked_at": iso(self.blocked_at),
                "redeemed_at": iso(self.redeemed_at), "redeemed_by": self.redeemed_msisdn,
                "redeemed_card": self.redeemed_card, "channel": self.redeemed_channel, "entry": self.entry_id,
                "key_version": self.key_version}


def effective_state(state: str, expires_at: int | None, now: int) -> str:
    """A card that can no longer be redeemed because of its date reads ``expired``."""
    if state in ("generated", "activated") and expires_at is not None and expires_at <= now:
        return "expired"
    return state


def card_info(conn: Connection, batch_id: int, seq: int, now: int) -> CardInfo:
    batch = batch_by_id(conn, batch_id)
    row = conn.execute(select(cards).where(cards.c.batch_id == batch_id, cards.c.seq == seq)).one_or_none()
    if row is None:
        raise NotFound(f"no card {pins.serial(batch_id, seq)}")
    return CardInfo(pins.serial(batch_id, seq), batch.name, batch.kind, batch.value,
                    effective_state(row.state, row.expires_at, now), row.value_tvu, row.expires_at, row.dealer,
                    row.activated_at, row.blocked_at, row.redeemed_at, row.redeemed_msisdn, row.redeemed_card,
                    row.redeemed_channel, row.entry_id, row.key_version)


# ---- redemption -------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Redeemed:
    serial: str
    kind: str
    tvu_credited: int
    renewed: bool
    subscriber: SubscriberRow


_REDEEM = Fast(
    update(cards)
    .where(cards.c.pin_hash == bindparam("h"), cards.c.key_version == bindparam("v"), cards.c.state == "activated",
           or_(cards.c.expires_at.is_(None), cards.c.expires_at > bindparam("now")))
    .values(state="redeemed", redeemed_at=bindparam("now"), redeemed_msisdn=bindparam("msisdn"),
            redeemed_card=bindparam("card"), redeemed_channel=bindparam("channel"))
    .returning(cards.c.id, cards.c.batch_id, cards.c.seq, cards.c.value_tvu)
)
_BATCH_BY_ID = Fast(_SELECT_BATCH.where(card_batches.c.id == bindparam("b")))
_BatchRecord = namedtuple("_BatchRecord", [c.key for c in _BATCH_COLUMNS])
_SET_ENTRY = Fast(update(cards).where(cards.c.id == bindparam("cid")).values(entry_id=bindparam("e")))


def redeem(conn: Connection, hashes: tuple[tuple[int, bytes], ...], card: str, msisdn: str, channel: str,
           now: int) -> Redeemed | None:
    """Redeem the activated, unexpired card whose PIN hashes to one of ``hashes`` onto
    ``card``; None when there is none (unknown, used, blocked, expired: one answer)."""
    sub = subscriber_store.lock_subscriber(conn, card)
    if sub.status is Status.SUSPENDED:
        raise SubscriberBlocked(f"card {card} is suspended")
    row = None
    for version, digest in hashes:
        row = _REDEEM.one(conn, {"h": digest, "v": version, "now": now, "msisdn": msisdn, "card": card,
                                 "channel": channel})
        if row is not None:
            break
    if row is None:
        return None
    card_id, batch_id, seq, value = row
    batch = _batch(_BatchRecord(*_BATCH_BY_ID.one(conn, {"b": batch_id})))
    serial = pins.serial(batch_id, seq)
    if batch.kind == TVU_CARD:
        entry = card_ledger.redemption(batch_id, card, value, value, serial)
        result = subscriber_store.credit_locked(conn, sub, entry, value, now, created_by=channel)
        entry_id, credited, renewed, after = result.entry_id, value, result.renewed, result.subscriber
    else:
        entry_id, credited, after = _redeem_package(conn, sub, batch, value, serial, channel, now)
        renewed = True
    _SET_ENTRY.execute(conn, {"cid": card_id, "e": entry_id})
    return Redeemed(serial, batch.kind, credited, renewed, after)


@dataclass(frozen=True, slots=True)
class Attempt:
    """A PIN attempt counted against the lock-outs: ``redeemed`` None when the PIN was wrong."""

    redeemed: Redeemed | None
    counts: dict[str, int]  # key -> attempts in its window, this one included
    locked: dict[str, int]  # key -> locked until: the keys this wrong PIN locked


def redeem_counted(conn: Connection, hashes: tuple[tuple[int, bytes], ...], card: str, msisdn: str, channel: str,
                   now: int, policy: LockoutPolicy) -> Attempt:
    """:func:`redeem`, counted against the lock-outs in the same transaction: the attempt is
    counted before the look-up (raising :class:`LockedOut` at the limit, before any look-up),
    given back when the PIN was right, and locks the keys it brings to the limit when wrong."""
    sub = subscriber_store.lock_subscriber(conn, card)
    keys = keys_for(msisdn, card, owner=sub.msisdn == msisdn)
    counts = lockout_store.reserve(conn, keys, now, policy)
    done = redeem(conn, hashes, card, msisdn, channel, now)
    if done is not None:
        lockout_store.give_back(conn, keys)
        return Attempt(done, counts, {})
    return Attempt(None, counts, lockout_store.lock_reached(conn, counts, now, policy))


def _redeem_package(conn: Connection, sub: SubscriberRow, batch: Batch, value: int, serial: str, channel: str,
                    now: int) -> tuple[int | None, int, SubscriberRow]:
    """A package card: credit the package's price, switch to the package, renew at once, stacked."""
    package = batch.package
    entry = card_ledger.redemption(batch.id, sub.card, value, package.tvu, serial)
    entry_id = ledger_store.post(conn, entry, now, created_by=channel) if entry else None
    if sub.package is None or sub.package.id != package.id:
        conn.execute(update(subscribers).where(subscribers.c.id == sub.id).values(package_id=package.id))
    sub = replace(sub, package=package, wallet_tvu=sub.wallet_tvu + package.tvu)
    return entry_id, package.tvu, subscriber_store.renew_locked(conn, sub, now, reason="card")


# ---- reports ----------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class BatchReport:
    batch: Batch
    generated: int
    activated: int  # ever activated (then maybe redeemed, blocked or expired)
    redeemed: int
    blocked: int
    expired: int  # neither redeemed nor blocked, past the expiry date
    outstanding_tvu: int  # value of activated cards that can still be redeemed
    redeemed_tvu: int
    ledger_activated_tvu: int  # per the ledger: activations less blockings
    ledger_redeemed_tvu: int  # per the ledger: value released by redemptions

    @property
    def audit(self) -> str:
        """``ok``, or why the batch needs a look: more value out than was put in."""
        if self.ledger_redeemed_tvu > self.ledger_activated_tvu or self.redeemed_tvu > self.ledger_activated_tvu:
            return "redeemed_exceeds_activated"
        if self.redeemed_tvu != self.ledger_redeemed_tvu:
            return "cards_disagree_with_ledger"
        return "ok"

    def to_json(self) -> dict:
        b = self.batch
        return {"batch": b.name, "kind": b.kind, "value": b.value, "expires_at": iso(b.expires_at),
                "key_version": b.key_version, "state": b.state, "generated": self.generated,
                "activated": self.activated, "redeemed": self.redeemed, "blocked": self.blocked,
                "expired": self.expired, "outstanding_tvu": self.outstanding_tvu, "redeemed_tvu": self.redeemed_tvu,
                "ledger_activated_tvu": self.ledger_activated_tvu, "ledger_redeemed_tvu": self.ledger_redeemed_tvu,
                "audit": self.audit}


def batch_reports(conn: Connection, now: int) -> list[BatchReport]:
    def count(cond):
        return func.coalesce(func.sum(case((cond, 1), else_=0)), 0)

    def total(cond):
        return func.coalesce(exact_sum(case((cond, cards.c.value_tvu), else_=0)), 0)

    live = or_(cards.c.expires_at.is_(None), cards.c.expires_at > now)
    stats = {r.batch_id: r for r in conn.execute(select(
        cards.c.batch_id, func.count().label("generated"),
        count(cards.c.activated_at.is_not(None)).label("activated"),
        count(cards.c.state == "redeemed").label("redeemed"),
        count(cards.c.state == "blocked").label("blocked"),
        count(and_(cards.c.state.in_(("generated", "activated")), ~live)).label("expired"),
        total(and_(cards.c.state == "activated", live)).label("outstanding"),
        total(cards.c.state == "redeemed").label("redeemed_tvu"),
    ).group_by(cards.c.batch_id)).all()}
    ledger = _liability_by_batch(conn)
    out = []
    for row in conn.execute(_SELECT_BATCH.order_by(card_batches.c.id)).all():
        batch, s = _batch(row), stats.get(row.id)
        moved = ledger.get(card_ledger.batch_ref(batch.id), {})
        activated_net = -(moved.get(card_ledger.ACTIVATE, 0) + moved.get(card_ledger.BLOCK, 0))
        out.append(BatchReport(batch, *(int(getattr(s, k)) if s else 0 for k in (
            "generated", "activated", "redeemed", "blocked", "expired", "outstanding", "redeemed_tvu")),
            activated_net, moved.get(card_ledger.REDEEM, 0)))
    return out


def _liability_by_batch(conn: Connection) -> dict[str, dict[str, int]]:
    """ref -> entry kind -> sum of the postings to ``cards:liability`` (debits positive)."""
    unit.flush(conn)
    rows = conn.execute(
        select(journal_entries.c.ref, journal_entries.c.kind, exact_sum(postings.c.amount))
        .join(postings, postings.c.entry_id == journal_entries.c.id)
        .join(accounts, accounts.c.id == postings.c.account_id)
        .where(accounts.c.code == card_ledger.CARDS_LIABILITY, journal_entries.c.ref.like("cards:batch:%"))
        .group_by(journal_entries.c.ref, journal_entries.c.kind)).all()
    out: dict[str, dict[str, int]] = defaultdict(dict)
    for ref, kind, amount in rows:
        out[ref][kind] = int(amount)
    return out
