"""The printer file is the only place PINs exist: not in the database file, not in the log."""
from __future__ import annotations

import logging
import random

import pytest

from billing_core import cards, subscriptions
from billing_core.context import Billing
from billing_core.db.database import open_database
from billing_core.db.migrate import upgrade
from billing_core.money import Rates
from billing_core.pins import PinKey, PinPolicy, mask_pin, new_pin
from gateway.state import MemoryState, StateLockouts


async def test_no_pin_in_the_clear_in_the_database_or_the_log(tmp_path, caplog, clock) -> None:
    caplog.set_level(logging.DEBUG)  # everything, SQL included
    path = tmp_path / "cards.db"
    url = f"sqlite+aiosqlite:///{path}"
    await upgrade(url)
    db = open_database(url)
    billing = Billing(db=db, rates=Rates({"KES": 100}), clock=clock,
                      pins=PinPolicy(current=PinKey(1, b"secrecy-key-0123456789abcdef")))
    lockouts = StateLockouts(MemoryState(clock=clock), failures=100, window_s=60, lockout_s=60, clock=clock)
    await subscriptions.add_package(billing, "BASIC", "Basic", 30, 100)
    await subscriptions.add_subscriber(billing, "40000001", "+254712345678", package="BASIC")

    rows: list[tuple[str, str]] = []
    await cards.generate_batch(billing, name="S1", count=40, tvu=100, sink=rows.extend, chunk=16)
    await cards.generate_batch(billing, name="S2", count=3, package="BASIC", sink=rows.extend)
    await cards.activate_cards(billing, "S1")
    redeemed = await cards.redeem_card(billing, lockouts, pin=rows[0][1], msisdn="+254712345678", channel="sms",
                                       card="40000001")
    assert redeemed.tvu_credited == 100
    wrong = [new_pin(14, random.Random(n).randrange) for n in range(3)] + [rows[-1][1]]  # the last is not activated
    for pin in wrong:
        with pytest.raises(cards.PinInvalid):
            await cards.redeem_card(billing, lockouts, pin=pin, msisdn="+254712345678", channel="sms",
                                    card="40000001")
    await db.close()

    stored = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("cards.db"))
    assert len(stored) > 10_000
    secrets_ = [pin for _, pin in rows] + wrong
    assert [pin for pin in secrets_ if pin.encode() in stored] == []
    assert [pin for pin in secrets_ if pin in caplog.text] == []
    assert mask_pin(wrong[0]) in caplog.text  # the wrong PIN was logged, masked
