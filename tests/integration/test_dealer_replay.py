"""Seen signatures of the dealer API live in the database: a POS that resends the very same
signed request after losing the response learns what happened, and a captured request is
refused after a restart and by every other gateway process (SQLite and PostgreSQL).

"Another process" here is a second ``create_app`` on the same database, with its own
in-process state store, exactly as a second gateway process (or the same one restarted)
would have; ``tests/e2e/test_dealer_tour.py`` does it with real ``tvtopup serve`` processes.
"""
from __future__ import annotations

import asyncio
import json

from sqlalchemy import func, select

from billing_core.db.schema_dealers import dealer_signatures, dealer_topups
from gateway.keys import BILLING
from tests.integration.test_dealer_api import CARD, MASTER, Dealer, float_of, seeded, wallet
from tests.integration.test_dealer_topups import assert_books_balance

SETTINGS = {"dealers.secret_key": MASTER, "dealers.requests_per_minute": 100_000}


def _signed_topup(dealer: Dealer, doc: dict, idem: str) -> tuple[bytes, dict]:
    raw = json.dumps(doc).encode()
    return raw, {**dealer.headers("POST", "/api/v1/topups", raw), "Idempotency-Key": idem,
                 "Content-Type": "application/json"}


async def test_the_very_same_signed_request_twice_gets_the_first_response(gateway_client, clock):
    client = await gateway_client(**SETTINGS)
    dealer = await seeded(client, clock)
    raw, headers = _signed_topup(dealer, {"card": CARD, "tvu": 10}, "lost-reply")
    first = await client.post("/api/v1/topups", data=raw, headers=headers)
    clock.advance(250)  # the POS resends late, still within the 300 s window
    again = await client.post("/api/v1/topups", data=raw, headers=headers)
    assert (first.status, again.status) == (201, 201), await again.text()
    assert await again.json() == await first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert await wallet(client) == 10 and await float_of(dealer) == "KES 990.50"


async def test_concurrent_copies_of_one_signed_request_sell_once(gateway_client, clock):
    client = await gateway_client(**SETTINGS)
    dealer = await seeded(client, clock)
    raw, headers = _signed_topup(dealer, {"card": CARD, "tvu": 7}, "burst")
    replies = await asyncio.gather(*(client.post("/api/v1/topups", data=raw, headers=headers) for _ in range(10)))
    assert {r.status for r in replies} == {201}
    assert len({(await r.json())["id"] for r in replies}) == 1
    assert await wallet(client) == 7


async def test_a_signed_request_under_another_key_is_refused(gateway_client, clock):
    client = await gateway_client(**SETTINGS)
    dealer = await seeded(client, clock)
    raw, headers = _signed_topup(dealer, {"card": CARD, "tvu": 10}, "k1")
    assert (await client.post("/api/v1/topups", data=raw, headers=headers)).status == 201
    renamed = await client.post("/api/v1/topups", data=raw, headers={**headers, "Idempotency-Key": "k2"})
    keyless = {k: v for k, v in headers.items() if k != "Idempotency-Key"}
    bare = await client.post("/api/v1/topups", data=raw, headers=keyless)
    assert (renamed.status, bare.status) == (401, 401)
    assert await wallet(client) == 10
    # a read is good once, whatever Idempotency-Key it carries
    read = {**dealer.headers("GET", "/api/v1/balance"), "Idempotency-Key": "k1"}
    assert [(await client.get("/api/v1/balance", headers=read)).status for _ in range(2)] == [200, 401]


async def test_a_captured_request_replayed_after_a_restart_is_refused(gateway_client, clock):
    before = await gateway_client(**SETTINGS)
    dealer = await seeded(before, clock)
    raw, headers = _signed_topup(dealer, {"card": CARD, "tvu": 10}, "k1")
    assert (await before.post("/api/v1/topups", data=raw, headers=headers)).status == 201
    balance = dealer.headers("GET", "/api/v1/balance")
    assert (await before.get("/api/v1/balance", headers=balance)).status == 200
    await before.close()  # the gateway stops; its in-process state is gone

    after = await gateway_client(**SETTINGS)
    clock.advance(60)
    replayed = await after.post("/api/v1/topups", data=raw, headers={**headers, "Idempotency-Key": "k-new"})
    assert replayed.status == 401, await replayed.text()
    assert (await after.get("/api/v1/balance", headers=balance)).status == 401
    again = await after.post("/api/v1/topups", data=raw, headers=headers)  # the honest retry still works
    assert again.status == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert await wallet(after) == 10
    await assert_books_balance(after.app[BILLING])


async def test_two_gateway_processes_both_refuse_a_replay(gateway_client, clock):
    one = await gateway_client(**SETTINGS)
    two = await gateway_client(**SETTINGS)
    dealer = await seeded(one, clock)
    raw, headers = _signed_topup(dealer, {"card": CARD, "tvu": 10}, "k1")
    assert (await one.post("/api/v1/topups", data=raw, headers=headers)).status == 201
    stolen = {**headers, "Idempotency-Key": "k-thief"}
    replies = await asyncio.gather(two.post("/api/v1/topups", data=raw, headers=stolen),
                                   one.post("/api/v1/topups", data=raw, headers=stolen))
    assert [r.status for r in replies] == [401, 401]
    # and a fresh request is good once, on whichever process sees it first
    clock.advance(1)
    get = dealer.headers("GET", "/api/v1/balance")
    assert [(await c.get("/api/v1/balance", headers=get)).status for c in (two, one)] == [200, 401]
    assert await wallet(one) == 10


async def test_seen_signatures_are_pruned_after_the_window(gateway_client, clock):
    client = await gateway_client(**SETTINGS)
    dealer = await seeded(client, clock)
    for i in range(3):
        assert (await dealer.get("/api/v1/balance", ts=clock.now - i)).status == 200
    billing = client.app[BILLING]

    async def kept() -> int:
        return await billing.db.read(lambda conn: conn.execute(select(func.count()).select_from(dealer_signatures))
                                     .scalar_one())

    assert await kept() == 3
    clock.advance(400)  # past the window (300 s) and the pruning interval
    assert (await dealer.get("/api/v1/balance")).status == 200
    assert await kept() == 1


async def test_idempotency_keys_are_released_after_the_retention(gateway_client, clock):
    client = await gateway_client(**SETTINGS, **{"dealers.idempotency_hours": 24})
    dealer = await seeded(client, clock)
    first = await (await dealer.topup({"card": CARD, "tvu": 10}, "daily-1")).json()
    clock.advance(23 * 3600)
    within = await dealer.topup({"card": CARD, "tvu": 11}, "daily-1")
    assert (within.status, (await within.json())["error"]) == (409, "idempotency_conflict")
    clock.advance(3600 + 61)  # past the retention and the housekeeping interval
    after = await dealer.topup({"card": CARD, "tvu": 11}, "daily-1")
    assert after.status == 201 and (await after.json())["id"] != first["id"]
    assert await wallet(client) == 21

    def kept(conn):
        return conn.execute(select(dealer_topups.c.idempotency_key, dealer_topups.c.response)
                            .order_by(dealer_topups.c.id)).all()

    rows = await client.app[BILLING].db.read(kept)
    assert [(key, bool(response)) for key, response in rows] == [(f"#{first['id']}", False), ("daily-1", True)]
    shown = await dealer.get(f"/api/v1/topups/{first['id']}")  # the sale itself is kept
    assert shown.status == 200 and (await shown.json())["tvu_credited"] == 10


def test_migration_0017_goes_down_and_up(tmp_path):
    from alembic import command
    from sqlalchemy import create_engine, inspect

    from billing_core.db.migrate import alembic_config

    url = f"sqlite:///{tmp_path / 'm.db'}"
    command.upgrade(alembic_config(url), "head")
    command.downgrade(alembic_config(url), "0016")
    engine = create_engine(url)
    assert "dealer_signatures" not in inspect(engine).get_table_names()
    command.upgrade(alembic_config(url), "head")
    assert "dealer_signatures" in inspect(engine).get_table_names()
    engine.dispose()
