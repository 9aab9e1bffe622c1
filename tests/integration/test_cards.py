"""Scratch cards on SQLite and PostgreSQL: generation, the state machine, redemption, lockouts, audit."""
from __future__ import annotations

import asyncio
import dataclasses
import itertools
import logging
import random

import pytest
from sqlalchemy import select, update

from billing_core import cards, subscriptions
from billing_core.card_ledger import CARDS_ISSUED, CARDS_LIABILITY
from billing_core.db import ledger_store
from billing_core.db.schema import packages
from billing_core.db.schema_cards import cards as cards_table
from billing_core.errors import AlreadyExists, InvalidInput, NotFound, UnknownCard
from billing_core.ledger import TVU_OPENING
from billing_core.pins import PinKey, PinKeyMissing, PinMalformed, PinPolicy, new_pin
from billing_core.renewal import DAY_S
from gateway.state import MemoryState, StateLockouts

KEY = PinKey(1, b"test-pin-key-0123456789abcdef")
CARD, MSISDN = "40000001", "+254712345678"
OTHER_CARD, OTHER_MSISDN = "40000002", "+254722000002"
PRICE, DAYS = 100, 30


@pytest.fixture
def shop(billing):
    """The billing context with a PIN key."""
    return dataclasses.replace(billing, pins=PinPolicy(current=KEY, pin_length=14, spike_per_minute=1000))


@pytest.fixture
def lockouts(clock):
    return StateLockouts(MemoryState(clock=clock), failures=3, window_s=600, lockout_s=3600, clock=clock)


@pytest.fixture
def lenient(clock):
    """Lockouts that never lock within a test: the state machine alone decides."""
    return StateLockouts(MemoryState(clock=clock), failures=10_000, window_s=600, lockout_s=3600, clock=clock)


async def subscribers(billing) -> None:
    await subscriptions.add_package(billing, "BASIC", "Basic", DAYS, PRICE, ("101",))
    await subscriptions.add_subscriber(billing, CARD, MSISDN, package="BASIC")
    await subscriptions.add_subscriber(billing, OTHER_CARD, OTHER_MSISDN, package="BASIC")


async def batch(billing, name="B1", count=10, **value) -> tuple[cards.Batch, list[tuple[str, str]]]:
    """A generated batch and its printer rows (serial, PIN)."""
    rows: list[tuple[str, str]] = []
    value = value or {"tvu": PRICE}
    made = await cards.generate_batch(billing, name=name, count=count, sink=rows.extend, **value)
    return made, rows


def redeem(billing, lockouts, pin, msisdn=MSISDN, card=CARD, channel="ussd"):
    return cards.redeem_card(billing, lockouts, pin=pin, msisdn=msisdn, channel=channel, card=card)


def wrong_pin(seed: int) -> str:
    return new_pin(14, random.Random(seed).randrange)


async def books(billing) -> dict[str, int]:
    trial = await billing.db.read(ledger_store.trial_balance)
    totals: dict[str, int] = {}
    for _account, unit, amount in trial:
        totals[unit] = totals.get(unit, 0) + amount
    assert set(totals.values()) <= {0}, trial
    return {account: amount for account, _unit, amount in trial}


# ---- generation -------------------------------------------------------------------------

async def test_generation_streams_unique_checked_pins_and_stores_only_their_hash(shop) -> None:
    chunks: list[int] = []
    rows: list[tuple[str, str]] = []

    def sink(part):
        chunks.append(len(part))
        rows.extend(part)

    made = await cards.generate_batch(shop, name="NOV-26", count=25, tvu=50, sink=sink, chunk=10)
    assert chunks == [10, 10, 5] and made.state == "generated" and made.count == 25
    serials, pins_ = [s for s, _ in rows], [p for _, p in rows]
    assert serials == [f"{made.id:05d}{seq:07d}" + s[-1] for seq, s in enumerate(serials, 1)]
    assert len(set(pins_)) == 25 and all(len(p) == 14 for p in pins_)
    stored = await shop.db.read(lambda c: c.execute(select(cards_table.c.seq, cards_table.c.pin_hash,
                                                           cards_table.c.state)).all())
    assert sorted((seq, bytes(h), st) for seq, h, st in stored) == [
        (seq, KEY.hash(pin), "generated") for seq, pin in enumerate(pins_, 1)]

    with pytest.raises(AlreadyExists, match="once"):
        await cards.generate_batch(shop, name="NOV-26", count=5, tvu=50, sink=sink)
    assert len(rows) == 25


async def test_colliding_pins_are_drawn_again(shop) -> None:
    real = random.Random(5).randrange
    calls = itertools.count()

    def rigged(n: int) -> int:  # the first 15 draws are all the same PIN
        return 424242 if next(calls) < 15 else real(n)

    _, first = await cards.generate_batch(shop, name="A", count=8, tvu=10, sink=(a := []).extend,
                                          randbelow=rigged), a
    _, second = await cards.generate_batch(shop, name="B", count=8, tvu=10, sink=(b := []).extend,
                                           randbelow=rigged), b
    all_pins = [p for _, p in first + second]
    assert len(all_pins) == 16 and len(set(all_pins)) == 16


async def test_generation_refuses_without_a_key_or_with_bad_input(billing, shop) -> None:
    with pytest.raises(PinKeyMissing, match="security.pin_key"):
        await batch(billing)
    await subscriptions.add_package(shop, "FREE", "Free", 30, 0)
    for bad, match in (({"tvu": 0}, "positive"), ({"tvu": 5, "package": "FREE"}, "either"),
                       ({"package": "FREE"}, "free"), ({"package": "NOPE"}, "NOPE")):
        with pytest.raises((InvalidInput, NotFound), match=match):
            await batch(shop, **bad)
    with pytest.raises(InvalidInput, match="name"):
        await batch(shop, name="no spaces")
    assert await cards.card_report(shop) == []


async def test_a_failed_generation_leaves_no_batch(shop) -> None:
    def failing(rows):
        raise OSError("disk full")

    with pytest.raises(OSError):
        await cards.generate_batch(shop, name="B1", count=30, tvu=10, sink=failing, chunk=10)
    assert await cards.card_report(shop) == []
    made, rows = await batch(shop, name="B1")  # the name is free again
    assert len(rows) == 10 and made.state == "generated"


# ---- the state machine ----------------------------------------------------------------------

async def test_only_activated_unused_unblocked_cards_redeem_once(shop, lenient, clock, monkeypatch) -> None:
    monkeypatch.setattr(cards, "ACTIVATE_CHUNK", 3)  # activation runs in bounded transactions
    await subscribers(shop)
    made, rows = await batch(shop, count=10)
    (s1, p1), (s2, p2), (s3, _), _, _, (s6, p6) = rows[:6]

    with pytest.raises(cards.PinInvalid):
        await redeem(shop, lenient, p1)  # generated, not sold
    done = await cards.activate_cards(shop, "B1", serials=f"{s1}-{rows[4][0]}", dealer="D-17", operator="ops")
    assert (done.activated, done.unchanged, done.value_tvu) == (5, 0, PRICE)
    assert (await books(shop))[CARDS_LIABILITY] == -5 * PRICE

    with pytest.raises(cards.PinInvalid):
        await redeem(shop, lenient, p6)  # outside the activated range
    got = await redeem(shop, lenient, f"{p1[:7]} {p1[7:]}")
    assert (got.serial, got.card, got.kind, got.tvu_credited, got.renewed) == (s1, CARD, "tvu", PRICE, True)
    assert (got.subscriber.status, got.subscriber.wallet_tvu) == ("active", 0)
    with pytest.raises(cards.PinInvalid):
        await redeem(shop, lenient, p1)  # used

    blocked = await cards.block_cards(shop, [f"{s2}-{s3}", s1], operator="ops")
    assert (blocked.blocked, blocked.value_tvu, blocked.redeemed, blocked.already_blocked) == (2, 2 * PRICE, 1, 0)
    with pytest.raises(cards.PinInvalid):
        await redeem(shop, lenient, p2)  # blocked
    again = await cards.block_cards(shop, [s2])
    assert (again.blocked, again.already_blocked) == (0, 1)

    rest = await cards.activate_cards(shop, "B1")
    assert (rest.activated, rest.unchanged) == (5, 5)  # the generated ones; blocked cards stay blocked
    shown = (await cards.show_card(shop, s1)).to_json()
    assert {k: shown[k] for k in ("state", "batch", "dealer", "redeemed_by", "redeemed_card", "channel")} == {
        "state": "redeemed", "batch": "B1", "dealer": "D-17", "redeemed_by": MSISDN, "redeemed_card": CARD,
        "channel": "ussd"}
    assert shown["entry"] and shown["redeemed_at"].endswith("Z")
    assert (await cards.show_card(shop, s2)).state == "blocked"
    with pytest.raises(InvalidInput, match="check digit"):
        await cards.show_card(shop, s1[:-1] + str((int(s1[-1]) + 1) % 10))

    ledger = await books(shop)
    assert ledger[CARDS_LIABILITY] == -(10 - 1 - 2) * PRICE  # activated 10, redeemed 1, blocked 2
    assert ledger[CARDS_ISSUED] == (10 - 2) * PRICE
    [report] = await cards.card_report(shop)
    assert (report.generated, report.activated, report.redeemed, report.blocked, report.expired,
            report.outstanding_tvu, report.audit) == (10, 10, 1, 2, 0, 7 * PRICE, "ok")


async def test_expired_cards_do_not_redeem(shop, lenient, clock) -> None:
    await subscribers(shop)
    made, rows = await batch(shop, count=2, tvu=30)
    later, later_rows = await cards.generate_batch(shop, name="B2", count=1, tvu=30, sink=(r := []).extend,
                                                   expires_at=clock.now + DAY_S), r
    await cards.activate_cards(shop, "B2")
    clock.advance(DAY_S)
    with pytest.raises(cards.PinInvalid):
        await redeem(shop, lenient, later_rows[0][1])
    assert (await cards.show_card(shop, later_rows[0][0])).state == "expired"
    with pytest.raises(Exception, match="expired"):
        await cards.activate_cards(shop, "B2")
    reports = {r.batch.name: r for r in await cards.card_report(shop)}
    assert (reports["B2"].expired, reports["B2"].outstanding_tvu) == (1, 0)
    assert reports["B1"].expired == 0


async def test_a_package_card_renews_at_once_stacked_at_todays_price(shop, lenient, clock) -> None:
    await subscribers(shop)
    credited = await subscriptions.credit_tvu(shop, CARD, PRICE, source=TVU_OPENING, ref="o", kind="opening")
    expires_at = credited.subscriber.expires_at
    _, rows = await batch(shop, name="P1", count=2, package="basic")
    await cards.activate_cards(shop, "P1")  # worth 100 TVU today
    await shop.db.write(lambda c: c.execute(update(packages).values(tvu=120)))

    got = await redeem(shop, lenient, rows[0][1], channel="sms")
    assert (got.kind, got.tvu_credited, got.renewed) == ("package", 120, True)
    assert got.subscriber.expires_at == expires_at + DAYS * DAY_S and got.subscriber.wallet_tvu == 0
    ledger = await books(shop)
    assert ledger[CARDS_LIABILITY] == -PRICE  # the other card, at its activation value
    [report] = await cards.card_report(shop)
    assert (report.redeemed_tvu, report.ledger_redeemed_tvu, report.audit) == (PRICE, PRICE, "ok")


async def test_the_card_comes_from_the_phone_when_it_has_exactly_one(shop, lenient) -> None:
    await subscribers(shop)
    await subscriptions.add_subscriber(shop, "40000003", OTHER_MSISDN)
    _, rows = await batch(shop, count=3)
    await cards.activate_cards(shop, "B1")
    got = await redeem(shop, lenient, rows[0][1], card=None)
    assert got.card == CARD
    with pytest.raises(cards.CardRequired, match="several"):
        await redeem(shop, lenient, rows[1][1], msisdn=OTHER_MSISDN, card=None)
    with pytest.raises(cards.CardRequired, match="no smartcard"):
        await redeem(shop, lenient, rows[1][1], msisdn="+254733000003", card=None)
    with pytest.raises(UnknownCard):
        await redeem(shop, lenient, rows[1][1], card="49999999")
    assert (await cards.show_card(shop, rows[1][0])).state == "activated"


async def test_key_rotation_keeps_old_cards_redeemable(shop, lenient) -> None:
    await subscribers(shop)
    _, rows = await batch(shop, count=2)
    await cards.activate_cards(shop, "B1")
    new_key = PinKey(2, b"rotated-key-0123456789abcdef")
    rotated = dataclasses.replace(shop, pins=PinPolicy(current=new_key, previous=KEY))
    assert (await redeem(rotated, lenient, rows[0][1])).tvu_credited == PRICE
    forgotten = dataclasses.replace(shop, pins=PinPolicy(current=new_key))
    with pytest.raises(cards.PinInvalid):
        await redeem(forgotten, lenient, rows[1][1])
    keyless = dataclasses.replace(shop, pins=PinPolicy())
    with pytest.raises(cards.PinInvalid):  # no key configured: nothing matches
        await redeem(keyless, lenient, rows[1][1])
    _, new_rows = await batch(rotated, name="B2", count=1)
    assert (await rotated.db.read(lambda c: c.execute(select(cards_table.c.key_version)
                                                       .where(cards_table.c.batch_id == 2)).scalar_one())) == 2


# ---- brute force --------------------------------------------------------------------------

async def test_wrong_pins_lock_the_phone_out_before_any_lookup(shop, lockouts, clock) -> None:
    await subscribers(shop)
    _, rows = await batch(shop, count=2)
    await cards.activate_cards(shop, "B1")
    good = rows[0][1]
    for n in range(10):  # typos caught by the check digit do not count
        with pytest.raises(PinMalformed):
            await redeem(shop, lockouts, good[:-1] + str((int(good[-1]) + 1 + n % 9) % 10))
    for seed in range(3):
        with pytest.raises(cards.PinInvalid):
            await redeem(shop, lockouts, wrong_pin(seed))
    with pytest.raises(cards.LockedOut):
        await redeem(shop, lockouts, good)  # even the right PIN: refused before the lookup
    assert (await cards.show_card(shop, rows[0][0])).state == "activated"  # still redeemable by others
    assert (await redeem(shop, lockouts, good, msisdn=OTHER_MSISDN, card=OTHER_CARD)).card == OTHER_CARD
    # the owner's phone is locked; the owner's failures do not lock the card for others
    assert [lock.key for lock in await cards.list_lockouts(shop)] == [f"msisdn:{MSISDN}"]
    [lock] = await cards.list_lockouts(shop)
    assert (lock.locked_at, lock.remaining_s) == (clock.now, 3600)

    clock.advance(3599)
    with pytest.raises(cards.LockedOut):  # the database says so, whatever the cache (a minute at most)
        await redeem(shop, lockouts, rows[1][1])
    clock.advance(1)
    assert (await redeem(shop, lockouts, rows[1][1])).card == CARD
    assert await cards.list_lockouts(shop) == []
    for seed in range(2):  # a fresh set of tries after the lock-out
        with pytest.raises(cards.PinInvalid):
            await redeem(shop, lockouts, wrong_pin(seed))


async def test_failures_outside_the_window_do_not_add_up(shop, lockouts, clock) -> None:
    await subscribers(shop)
    for seed in range(2):
        with pytest.raises(cards.PinInvalid):
            await redeem(shop, lockouts, wrong_pin(seed))
    clock.advance(600)
    for seed in range(2):
        with pytest.raises(cards.PinInvalid):
            await redeem(shop, lockouts, wrong_pin(seed))
    assert await cards.list_lockouts(shop) == []


async def test_parallel_wrong_pins_from_one_phone_are_looked_up_at_most_the_limit(shop, lockouts, db_url) -> None:
    """Two database handles (two pools on PostgreSQL, two writers on SQLite): only the row decides."""
    from billing_core.db.database import open_database

    await subscribers(shop)
    rival_db = open_database(db_url, pool_size=8)
    rival = dataclasses.replace(shop, db=rival_db)
    try:
        results = await asyncio.gather(*(redeem((shop, rival)[n % 2], lockouts, wrong_pin(n)) for n in range(15)),
                                       return_exceptions=True)
    finally:
        await rival_db.close()
    assert sorted(type(r).__name__ for r in results) == ["LockedOut"] * 12 + ["PinInvalid"] * 3


async def test_wrong_pins_for_one_card_from_many_phones_lock_the_card(shop, lockouts) -> None:
    await subscribers(shop)
    _, rows = await batch(shop, count=1)
    await cards.activate_cards(shop, "B1")
    for n in range(3):
        with pytest.raises(cards.PinInvalid):
            await redeem(shop, lockouts, wrong_pin(n), msisdn=f"+25473300000{n}")
    with pytest.raises(cards.LockedOut):
        await redeem(shop, lockouts, rows[0][1], msisdn="+254733000009")
    assert [lock.key for lock in await cards.list_lockouts(shop)] == [f"card:{CARD}"]
    assert await cards.lift_lockout(shop, lockouts, CARD) == [f"card:{CARD}"]
    assert (await redeem(shop, lockouts, rows[0][1], msisdn="+254733000009")).card == CARD


async def test_strangers_lock_a_card_for_strangers_only(shop, lockouts) -> None:
    await subscribers(shop)
    _, rows = await batch(shop, count=2)
    await cards.activate_cards(shop, "B1")
    for n in range(10):
        with pytest.raises((cards.PinInvalid, cards.LockedOut)):
            await redeem(shop, lockouts, wrong_pin(n), msisdn=f"+25473300000{n}")
    with pytest.raises(cards.LockedOut):
        await redeem(shop, lockouts, rows[0][1], msisdn="+254733000010")
    assert (await redeem(shop, lockouts, rows[0][1], msisdn=MSISDN)).card == CARD  # its owner
    with pytest.raises(cards.PinInvalid):  # and the owner's failures count on the owner's phone only
        await redeem(shop, lockouts, wrong_pin(50), msisdn=MSISDN)


async def test_an_operator_lifts_a_phone_lockout(shop, lockouts) -> None:
    await subscribers(shop)
    for n in range(3):
        with pytest.raises(cards.PinInvalid):
            await redeem(shop, lockouts, wrong_pin(n))
    with pytest.raises(cards.LockedOut):
        await redeem(shop, lockouts, wrong_pin(9))
    assert await cards.lift_lockout(shop, lockouts, "0712345678") == [f"msisdn:{MSISDN}"]
    assert await cards.lift_lockout(shop, lockouts, "0712345678") == []
    with pytest.raises(cards.PinInvalid):  # the phone may try again, a full set of tries
        await redeem(shop, lockouts, wrong_pin(9), card=OTHER_CARD)
    with pytest.raises(cards.PinInvalid):
        await redeem(shop, lockouts, wrong_pin(10))


async def test_a_spike_of_wrong_pins_raises_one_alarm(shop, caplog, clock) -> None:
    await subscribers(shop)
    watched = dataclasses.replace(shop, pins=dataclasses.replace(shop.pins, spike_per_minute=4))
    lockouts = StateLockouts(MemoryState(clock=clock), failures=1000, window_s=600, lockout_s=60, clock=clock)
    before = cards.STATS.spikes
    caplog.set_level(logging.INFO, logger="billing_core.cards")
    for n in range(8):
        with pytest.raises(cards.PinInvalid):
            await redeem(watched, lockouts, wrong_pin(n), msisdn=f"+25473300001{n}")
    alarms = [r for r in caplog.records if "ALARM" in r.getMessage()]
    assert len(alarms) == 1 and alarms[0].levelno == logging.WARNING
    assert cards.STATS.spikes == before + 1


# ---- audit ----------------------------------------------------------------------------------

async def test_the_audit_flags_a_batch_with_more_redeemed_than_activated(shop, lenient, caplog) -> None:
    await subscribers(shop)
    _, rows = await batch(shop, count=4)
    await cards.activate_cards(shop, "B1", serials=f"{rows[0][0]}-{rows[1][0]}")
    await redeem(shop, lenient, rows[0][1])
    await cards.block_cards(shop, [rows[1][0]])
    assert await cards.audit_cards(shop) == []
    # someone marks cards redeemed behind the ledger's back: a blocked one, a never activated one
    await shop.db.write(lambda c: c.execute(update(cards_table).where(cards_table.c.seq.in_((2, 3)))
                                            .values(state="redeemed", value_tvu=PRICE)))
    [flagged] = await cards.audit_cards(shop)
    assert (flagged.batch.name, flagged.audit) == ("B1", "redeemed_exceeds_activated")
    assert "card audit: batch B1" in caplog.text


async def test_a_lockout_holds_while_a_flood_fills_the_in_process_store(shop, clock) -> None:
    """16.7: oldest-first eviction dropped a 60-minute lock-out after 7 minutes."""
    from gateway.state.store import StateUnavailable

    await subscribers(shop)
    _, rows = await batch(shop, count=1)
    await cards.activate_cards(shop, "B1")
    state = MemoryState(clock=clock, max_keys=50)
    lockouts = StateLockouts(state, failures=3, window_s=600, lockout_s=3600, clock=clock)
    for seed in range(3):
        with pytest.raises(cards.PinInvalid):
            await redeem(shop, lockouts, wrong_pin(seed))
    for n in range(1000):  # SMS from made-up senders: a rate-limit counter each
        try:
            await state.incr(f"rate:sms_inbound:+2547{n:08d}", 3600)
        except StateUnavailable:
            pass
    clock.advance(7 * 60)
    with pytest.raises(cards.LockedOut):
        await redeem(shop, lockouts, rows[0][1])


async def test_rows_that_count_nothing_any_more_are_pruned(shop, lockouts, clock) -> None:
    from billing_core.db import lockout_store
    from billing_core.db.schema_lockouts import lockouts as lockouts_table

    await subscribers(shop)
    for seed in range(3):  # the owner's phone: locked for 3600 s
        with pytest.raises(cards.PinInvalid):
            await redeem(shop, lockouts, wrong_pin(seed))
    with pytest.raises(cards.PinInvalid):  # a stranger's phone and the card: a window of 600 s
        await redeem(shop, lockouts, wrong_pin(7), msisdn="+254733000001")
    keys = lambda: shop.db.read(lambda c: sorted(c.execute(select(lockouts_table.c.key)).scalars()))  # noqa: E731
    assert await keys() == [f"card:{CARD}", "msisdn:+254712345678", "msisdn:+254733000001"]
    clock.advance(600)
    assert await shop.db.write(lockout_store.prune, clock.now) == 2
    assert await keys() == ["msisdn:+254712345678"]  # still locked
    clock.advance(3000)
    assert await shop.db.write(lockout_store.prune, clock.now) == 1 and await keys() == []
