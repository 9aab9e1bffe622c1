"""Scratch cards: batches, activation, blocking, reports, and the redemption every channel uses.

Lifecycle: generated -> activated (sold into the channel) -> redeemed, or blocked, or
expired (past the batch's date). Only activated, unexpired cards redeem, exactly
once (:mod:`billing_core.db.card_store`). PINs exist in the clear only in the printer
file written while a batch is generated; the database keeps their keyed hash.

Refusals of :func:`redeem_card`, by what the channel says to the subscriber::

    DomainError
    ├── InvalidInput
    │   ├── PinMalformed        pin_malformed   typo caught by the check digit: not counted
    │   ├── CardRequired        card_required   this phone has no card, or several: ask for it
    │   └── InvalidMsisdn, InvalidCard
    ├── NotFound
    │   ├── PinInvalid          pin_invalid     unknown, used, blocked or expired: one answer, counted
    │   └── UnknownCard         unknown_card    the smartcard given is not registered
    ├── Conflict
    │   ├── LockedOut           locked_out      too many wrong PINs (counted before the lookup): refused
    │   └── SubscriberBlocked   subscriber_blocked
    └── LockoutsUnavailable     lockouts_unavailable   the lockout cache is down: refused (fail closed)
"""
from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import re
import secrets
from dataclasses import dataclass
from typing import Callable, Iterable

from billing_core import pins
from billing_core.context import Billing
from billing_core.db import card_store as store
from billing_core.db import lockout_store
from billing_core.db import subscriber_store
from billing_core.db.card_store import Activated, Batch, BatchReport, Blocked, CardInfo
from billing_core.errors import InvalidInput, NotFound
from billing_core.lockouts import LockedOut, Lockout, Lockouts, LockoutsUnavailable, card_key, phone_key, refusal_text
from billing_core.phones import mask
from billing_core.pins import PinKeyMissing, PinMalformed
from billing_core.subscriptions import SubscriberView, view

log = logging.getLogger(__name__)

BATCH_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
CHANNEL = re.compile(r"[a-z][a-z0-9_]{0,15}")
DEALER_MAX = 64
CHUNK = 10_000  # cards per transaction (and per CSV flush) while generating
ACTIVATE_CHUNK = 50_000  # cards per activation transaction
COLLISION_ROUNDS_MAX = 8
SPIKE_WINDOW_S = 60
PRUNE_EVERY = 64  # wrong PINs of this process between two prunings of dead lockout rows


class PinInvalid(NotFound):
    """The neutral answer: no redeemable card has this PIN (unknown, used, blocked, expired)."""

    code = "pin_invalid"


class CardRequired(InvalidInput):
    """The phone has no registered smartcard, or several: the subscriber must say which."""

    code = "card_required"


@dataclass
class PinStats:
    """Counters of this process, exported as metrics."""

    redemptions: int = 0
    pin_failures: int = 0
    spikes: int = 0  # windows in which wrong PINs across all phones passed the alarm level


STATS = PinStats()


# ---- batches ----------------------------------------------------------------------------

async def generate_batch(billing: Billing, *, name: str, count: int, tvu: int | None = None,
                         package: str | None = None, expires_at: int | None = None,
                         sink: Callable[[list[tuple[str, str]]], None], created_by: str = "",
                         chunk: int = CHUNK, randbelow: Callable[[int], int] = secrets.randbelow) -> Batch:
    """Generate batch ``name`` of ``count`` cards worth ``tvu`` or ``package``.

    ``sink`` receives (serial, PIN) pairs, chunk by chunk, each after its cards are
    committed: it writes the printer file, the only place the PINs ever exist. Memory
    stays flat whatever ``count``. A name is used once, so a batch's PINs are exported
    once. If anything fails, the batch and its cards are deleted (the caller deletes
    the file) and the error is raised.
    """
    name = (name or "").strip()
    kind, package_code = _check_batch(billing, name, count, tvu, package, expires_at)
    key = billing.pins.generation_key()
    batch = await billing.db.write(store.insert_batch, name, kind, tvu, package_code, count, expires_at,
                                   billing.pins.pin_length, key.version, created_by, billing.now())
    ranges = [(lo, min(lo + chunk - 1, count)) for lo in range(1, count + 1, chunk)]
    draw = functools.partial(_draw, batch.id, billing.pins.pin_length, key, randbelow)
    upcoming = asyncio.ensure_future(asyncio.to_thread(draw, *ranges[0]))
    try:
        for n, (lo, hi) in enumerate(ranges):
            drawn = await upcoming
            if n + 1 < len(ranges):  # the next chunk is drawn while this one is written
                upcoming = asyncio.ensure_future(asyncio.to_thread(draw, *ranges[n + 1]))
            await _insert_chunk(billing, batch, key, drawn, randbelow)
            sink(list(zip(drawn.serials, drawn.pins)))
        batch = await billing.db.write(store.finish_batch, batch.id, billing.now())
    except BaseException:
        upcoming.cancel()
        await billing.db.write(store.discard_batch, batch.id)
        raise
    log.info("card batch %s generated: %d cards, serials %s-%s", batch.name, batch.count, *batch.serials())
    return batch


def _check_batch(billing: Billing, name: str, count: int, tvu: int | None, package: str | None,
                 expires_at: int | None) -> tuple[str, str | None]:
    """(kind, package code) of a valid request."""
    if not BATCH_NAME.fullmatch(name):
        raise InvalidInput("a batch name is 1-64 letters, digits, '.', '-' or '_'")
    if type(count) is not int or not 1 <= count <= pins.SEQ_MAX:
        raise InvalidInput(f"--count must be 1 to {pins.SEQ_MAX}")
    if (tvu is None) == (package is None):
        raise InvalidInput("a card is worth either --tvu T or --package CODE")
    if tvu is not None and (type(tvu) is not int or tvu <= 0):
        raise InvalidInput("--tvu must be a positive whole number")
    if expires_at is not None and expires_at <= billing.now():
        raise InvalidInput("--expires is in the past")
    return ("tvu", None) if tvu is not None else ("package", package.strip().upper())


@dataclass(slots=True)
class _Chunk:
    lo: int
    hi: int
    serials: list[str]
    pins: list[str]  # of cards lo..hi
    rows: list[tuple[int, bytes]]  # (seq, PIN hash) to insert


def _draw(batch_id: int, length: int, key: pins.PinKey, randbelow: Callable[[int], int], lo: int,
          hi: int) -> _Chunk:
    """PINs, hashes and serials of cards lo..hi: pure CPU, run in a worker thread."""
    drawn = [pins.new_pin(length, randbelow) for _ in range(lo, hi + 1)]
    return _Chunk(lo, hi, [pins.serial(batch_id, s) for s in range(lo, hi + 1)], drawn,
                  [(s, key.hash(pin)) for s, pin in zip(range(lo, hi + 1), drawn)])


async def _insert_chunk(billing: Billing, batch: Batch, key: pins.PinKey, chunk: _Chunk,
                        randbelow: Callable[[int], int]) -> None:
    """Insert a chunk; a PIN whose hash is taken already (by any card) is drawn again."""
    rows = chunk.rows
    for _ in range(COLLISION_ROUNDS_MAX):
        todo = await billing.db.write(store.insert_cards, batch.id, key.version, batch.expires_at, rows,
                                      chunk.lo, chunk.hi)
        if not todo:
            return
        rows = []
        for s in todo:
            chunk.pins[s - chunk.lo] = pins.new_pin(billing.pins.pin_length, randbelow)
            rows.append((s, key.hash(chunk.pins[s - chunk.lo])))
    raise RuntimeError(f"batch {batch.name}: PINs kept colliding; is the random source broken?")


async def activate_cards(billing: Billing, batch: str, *, serials: str | None = None, dealer: str | None = None,
                         operator: str = "") -> Activated:
    """Activate a batch, or the range ``A-B`` of its serials, optionally for a dealer."""
    batch = (batch or "").strip()
    current = await billing.db.read(store.batch_by_name, batch)
    lo, hi = 1, current.count
    if serials:
        (batch_a, lo), (batch_b, hi) = _range(serials)
        if batch_a != current.id or batch_b != current.id:
            raise InvalidInput(f"serials {serials} are not all of batch {batch}")
    dealer = dealer.strip() if dealer else None
    if dealer is not None and not 1 <= len(dealer) <= DEALER_MAX:
        raise InvalidInput(f"a dealer id is 1 to {DEALER_MAX} characters")
    done = None
    # Bounded transactions: a million cards must not hold SQLite's write lock for long
    # (a running gateway's payments wait behind it). Re-running finishes an interrupted run.
    for a in range(lo, hi + 1, ACTIVATE_CHUNK):
        part = await billing.db.write(store.activate, batch, a, min(a + ACTIVATE_CHUNK - 1, hi), dealer,
                                      billing.now(), operator)
        done = part if done is None else dataclasses.replace(
            done, last_serial=part.last_serial, activated=done.activated + part.activated,
            unchanged=done.unchanged + part.unchanged)
    log.info("cards %s-%s of batch %s: %d activated%s", done.first_serial, done.last_serial, batch, done.activated,
             f" for dealer {dealer}" if dealer else "")
    return done


async def block_cards(billing: Billing, serials: Iterable[str], *, operator: str = "") -> Blocked:
    """Block cards (``SERIAL`` or ``A-B``, in one batch per range): all or none."""
    ranges = []
    for spec in serials:
        (batch_a, lo), (batch_b, hi) = _range(spec)
        if batch_a != batch_b:
            raise InvalidInput(f"{spec}: a range stays within one batch")
        ranges.append((batch_a, lo, hi))
    if not ranges:
        raise InvalidInput("name the serials to block")
    done = await billing.db.write(store.block, ranges, billing.now(), operator)
    log.info("%d cards blocked by %s (%d TVU withdrawn, %d found redeemed already)", done.blocked,
                operator or "-", done.value_tvu, done.redeemed)
    return done


def _range(spec: str) -> tuple[tuple[int, int], tuple[int, int]]:
    first, sep, last = (spec or "").strip().partition("-")
    a = pins.parse_serial(first)
    b = pins.parse_serial(last) if sep else a
    if b < a:
        raise InvalidInput(f"{spec}: the first serial comes first")
    return a, b


async def show_card(billing: Billing, serial: str) -> CardInfo:
    batch_no, seq = pins.parse_serial(serial)
    return await billing.db.read(store.card_info, batch_no, seq, billing.now())


async def card_report(billing: Billing) -> list[BatchReport]:
    """Per batch: generated, activated, redeemed, blocked, expired, value outstanding, audit."""
    return await billing.db.read(store.batch_reports, billing.now())


async def audit_cards(billing: Billing) -> list[BatchReport]:
    """The daily audit: batches with more value redeemed than activated (or whose cards
    disagree with the ledger); each is logged as an error."""
    flagged = [r for r in await card_report(billing) if r.audit != "ok"]
    for r in flagged:
        log.error("card audit: batch %s: %s (ledger: activated %d TVU, redeemed %d TVU; cards: redeemed %d TVU)",
                  r.batch.name, r.audit, r.ledger_activated_tvu, r.ledger_redeemed_tvu, r.redeemed_tvu)
    return flagged


# ---- redemption ---------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Redemption:
    serial: str
    card: str
    kind: str  # "tvu" | "package"
    tvu_credited: int
    renewed: bool
    subscriber: SubscriberView

    def to_json(self) -> dict:
        return {"serial": self.serial, "card": self.card, "kind": self.kind, "tvu_credited": self.tvu_credited,
                "renewed": self.renewed, "subscriber": self.subscriber.to_json()}


async def redeem_card(billing: Billing, lockouts: Lockouts, *, pin: str, msisdn: str, channel: str,
                      card: str | None = None) -> Redemption:
    """Redeem the scratch card with ``pin`` onto ``card`` (default: the one card of ``msisdn``).

    A phone the lock cache knows is locked is refused at once. A PIN that fails its
    check digit is a typo: refused, not counted. Every other attempt is counted before
    its look-up, in the look-up's transaction (:func:`store.redeem_counted`), against the
    phone and, unless the phone is the card's registered one, the smartcard: at the limit
    it is refused without a look-up, whatever the number of attempts in parallel; a
    right PIN gives its attempt back. A TVU card credits the wallet (then the renewal
    rules); a package card renews at once, stacked.
    """
    msisdn = billing.msisdn(msisdn)
    if not CHANNEL.fullmatch(channel or ""):
        raise InvalidInput("a channel is a short lower-case name (ussd, sms, ...)")
    if await lockouts.locked(phone_key(msisdn)):
        raise LockedOut(refusal_text(phone_key(msisdn)))
    digits = pins.parse_pin(pin)
    card = billing.card(card) if card else await _only_card(billing, msisdn)
    now = billing.now()
    try:
        attempt = await billing.db.write(store.redeem_counted, billing.pins.candidates(digits), card, msisdn, channel,
                                         now, lockouts.policy)
    except LockedOut as refused:
        if refused.key:
            await lockouts.remember(refused.key, refused.until, now)
        raise
    done = attempt.redeemed
    if done is None:
        await _wrong_pin(billing, lockouts, digits, msisdn, card, channel, attempt)
        raise PinInvalid("this PIN is not valid")
    STATS.redemptions += 1
    log.info("card %s redeemed by %s onto %s via %s: %d TVU%s", done.serial, mask(msisdn), card, channel,
             done.tvu_credited, ", renewed" if done.renewed else "")
    return Redemption(done.serial, card, done.kind, done.tvu_credited, done.renewed, view(done.subscriber, now))


async def _only_card(billing: Billing, msisdn: str) -> str:
    rows = await billing.db.read(subscriber_store.find_subscribers, msisdn=msisdn)
    if len(rows) != 1:
        raise CardRequired("this phone has several smartcards: give the card number" if rows
                           else "no smartcard is registered to this phone: give the card number")
    return rows[0].card


async def _wrong_pin(billing: Billing, lockouts: Lockouts, digits: str, msisdn: str, card: str, channel: str,
                     attempt: store.Attempt) -> None:
    STATS.pin_failures += 1
    now = billing.now()
    log.info("wrong card PIN %s from %s for %s via %s (%s)", pins.mask_pin(digits), mask(msisdn), card, channel,
             ", ".join(f"{n} for {_shown(key)}" for key, n in attempt.counts.items()))
    for key, until in attempt.locked.items():
        log.info("locked out: %s until %d", _shown(key), until)
        await lockouts.remember(key, until, now)
    total = await lockouts.tally("pin_failures", SPIKE_WINDOW_S)
    if total == billing.pins.spike_per_minute + 1:
        STATS.spikes += 1
        log.warning("ALARM: more than %d wrong card PINs across all phones within %d s",
                    billing.pins.spike_per_minute, SPIKE_WINDOW_S)
    if STATS.pin_failures % PRUNE_EVERY == 0:  # rows that count nothing any more, now and then
        await billing.db.write(lockout_store.prune, now)


# ---- operators and lockouts ------------------------------------------------------------

async def list_lockouts(billing: Billing) -> list[Lockout]:
    """The phones and cards locked out now (from the database: every process's)."""
    return await billing.db.read(lockout_store.locked, billing.now())


async def lift_lockout(billing: Billing, lockouts: Lockouts, who: str) -> list[str]:
    """Lift the lockout of a phone number or smartcard and forget its failures; returns the
    keys that were locked. The cache of this process (or Redis) forgets them at once."""
    text = (who or "").strip()
    keys = [card_key(text)] if billing.is_card(text) else []
    try:
        keys.append(phone_key(billing.msisdn(text)))
    except InvalidInput:
        if not keys:
            raise
    lifted = await billing.db.write(lockout_store.unlock, keys, billing.now())
    await lockouts.forget(*keys)
    log.info("lockout lifted: %s", ", ".join(_shown(k) for k in lifted) or "-")
    return lifted


def _shown(key: str) -> str:
    kind, _, value = key.partition(":")
    return f"{kind}:{mask(value) if kind == 'msisdn' else value}"


__all__ = ["Batch", "Activated", "Blocked", "CardInfo", "BatchReport", "Redemption", "PinInvalid", "CardRequired",
           "PinMalformed", "PinKeyMissing", "LockedOut", "LockoutsUnavailable", "STATS", "generate_batch",
           "activate_cards", "block_cards", "show_card", "card_report", "audit_cards", "redeem_card",
           "list_lockouts", "lift_lockout"]
