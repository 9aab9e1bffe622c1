"""Benchmark: the expiry sweep over N subscriptions on PostgreSQL, next to the gateway's requests.

    python bench/expiry.py [--n 20000] [--due 1.0] [--covered 0.1] [--batch 1000] [--concurrency 2] [--keep]
    python bench/expiry.py --n 1000000          the full run (seeding takes a while)

Seeds a fresh database with ``--n`` active subscriptions (SQL ``generate_series``),
a fraction ``--due`` of them already expired and a fraction ``--covered`` of those
with a wallet that pays the next period; then runs the scheduler's sweep
(``billing_core.notifications.sweep_expiry``, ``--batch`` subscriptions per
transaction) while a probe plays the gateway: every 20 ms a request-like write
transaction locks a random subscriber and touches it. Reports the sweep's time
and rate and the probe's latency (a sweep that blocked requests would show in
its maximum). Checks afterwards that every due subscription was renewed or
expired exactly once and that revoke/grant events match.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select, update  # noqa: E402

from billing_core.context import Billing  # noqa: E402
from billing_core.db import subscriber_store  # noqa: E402
from billing_core.db.database import open_database  # noqa: E402
from billing_core.db.migrate import upgrade  # noqa: E402
from billing_core.db.schema import outbox, renewals, subscribers  # noqa: E402
from billing_core.money import Rates  # noqa: E402
from billing_core.notifications import sweep_expiry  # noqa: E402
import pgdb  # noqa: E402  (bench/ is on the path when run as a script)

PRICE = 150
NOW = 1_900_000_000
CARD0 = 100_000_000


async def seed(dsn: str, n: int, due: float, covered: float) -> None:
    """n wallets, balance rows and active subscribers in three set-based INSERTs."""
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("INSERT INTO packages (code, name, days, tvu, products, active, created_at) "
                           "VALUES ('BASIC', 'Basic', 30, $1, '101,102', true, $2)", PRICE, NOW)
        await conn.execute(
            "INSERT INTO accounts (code, unit, slots, credit_only, created_at) "
            "SELECT 'wallet:' || ($1::bigint + g), 'TVU', 1, true, $2 FROM generate_series(0, $3 - 1) g",
            CARD0, NOW, n)
        n_due = int(n * due)
        n_covered = int(n_due * covered)
        # cards CARD0 + i: the first n_due expire before NOW; of those, every (1/covered)-th
        # has a wallet that pays the next period
        step = max(1, round(1 / covered)) if covered else 0
        await conn.execute(
            "INSERT INTO account_balances (account_id, slot, balance, credit_only) "
            "SELECT a.id, 0, CASE WHEN $1::int > 0 AND i < $2::bigint AND i % $1::int = 0 "
            "THEN -($3::bigint) ELSE 0 END, true "
            "FROM (SELECT id, substr(code, 8)::bigint - $4::bigint AS i FROM accounts WHERE code LIKE 'wallet:%') a",
            step, n_due, PRICE, CARD0)
        await conn.execute(
            "INSERT INTO subscribers (card, msisdn, name, lang, package_id, status, expires_at, wallet_account_id, "
            "created_at, updated_at) "
            "SELECT a.card, '+2547' || lpad((a.i % 100000000)::text, 8, '0'), '', (ARRAY['en','fr','sw'])[1 + a.i % 3], "
            "p.id, 'active', CASE WHEN a.i < $1::bigint THEN $2::bigint - 3600 + (a.i % 3600) "
            "ELSE $2::bigint + 86400 * (1 + a.i % 20) END, a.id, $2::bigint, $2::bigint "
            "FROM (SELECT id, substr(code, 8) AS card, substr(code, 8)::bigint - $3::bigint AS i FROM accounts "
            "WHERE code LIKE 'wallet:%') a, packages p", n_due, NOW, CARD0)
        await conn.execute("ANALYZE")
        print(f"seeded {n} subscriptions: {n_due} due, {n_covered} with a covering wallet", flush=True)
    finally:
        await conn.close()


async def probe(billing: Billing, n: int, stop: asyncio.Event, latencies: list[float]) -> None:
    """A request-like write every 20 ms: lock a random subscriber and its wallet, touch it."""
    rng = random.Random(7)

    def tx(conn, card):
        sub = subscriber_store.lock_subscriber(conn, card)
        conn.execute(update(subscribers).where(subscribers.c.id == sub.id).values(updated_at=NOW + 1))

    while not stop.is_set():
        card = str(CARD0 + rng.randrange(n))
        started = time.perf_counter()
        await billing.db.write(tx, card)
        latencies.append(time.perf_counter() - started)
        await asyncio.sleep(0.02)


async def check(billing: Billing) -> dict:
    def tx(conn):
        statuses = dict(conn.execute(select(subscribers.c.status, func.count()).group_by(subscribers.c.status)).all())
        kinds = dict(conn.execute(select(outbox.c.kind, func.count()).group_by(outbox.c.kind)).all())
        expiry_renewals = conn.execute(select(func.count()).select_from(renewals)
                                       .where(renewals.c.reason == "expiry")).scalar_one()
        still_due = conn.execute(select(func.count()).select_from(subscribers).where(
            subscribers.c.status == "active", subscribers.c.expires_at <= NOW)).scalar_one()
        return {"statuses": statuses, "events": kinds, "renewals": expiry_renewals, "still_due": still_due}

    return await billing.db.read(tx)


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20_000, help="subscriptions (1000000 for the full run)")
    ap.add_argument("--due", type=float, default=1.0, help="fraction already past expiry")
    ap.add_argument("--covered", type=float, default=0.1, help="fraction of the due ones the wallet renews")
    ap.add_argument("--batch", type=int, default=1000, help="subscriptions per transaction")
    ap.add_argument("--concurrency", type=int, default=2, help="batches in flight at once")
    ap.add_argument("--keep", action="store_true", help="keep the database")
    args = ap.parse_args()

    dsn = await pgdb.create("expiry")
    url = pgdb.sqlalchemy_url(dsn)
    try:
        await upgrade(url)
        started = time.perf_counter()
        await seed(dsn, args.n, args.due, args.covered)
        seed_s = time.perf_counter() - started
        sweeper = Billing(db=open_database(url, pool_size=4, statement_timeout_ms=60_000), rates=Rates({"KES": 100}),
                          clock=lambda: NOW)
        gateway = Billing(db=open_database(url, pool_size=2), rates=Rates({"KES": 100}), clock=lambda: NOW)
        stop, latencies = asyncio.Event(), []
        probing = asyncio.create_task(probe(gateway, args.n, stop, latencies))
        started = time.perf_counter()
        done = await sweep_expiry(sweeper, limit=args.batch, concurrency=args.concurrency)
        sweep_s = time.perf_counter() - started
        stop.set()
        await probing
        result = await check(sweeper)
        await sweeper.db.close()
        await gateway.db.close()
    finally:
        if not args.keep:
            await pgdb.drop(dsn)

    handled = done["renewed"] + done["expired"]
    lat = sorted(latencies)
    report = {
        "n": args.n, "due": int(args.n * args.due), "batch": args.batch, "concurrency": args.concurrency, "seed_s": round(seed_s, 1),
        "sweep_s": round(sweep_s, 2), "per_s": round(handled / sweep_s) if sweep_s else None, **done,
        "probe_requests": len(lat),
        "probe_p50_ms": round(statistics.median(lat) * 1000, 1) if lat else None,
        "probe_p99_ms": round(lat[int(len(lat) * 0.99) - 1] * 1000, 1) if lat else None,
        "probe_max_ms": round(lat[-1] * 1000, 1) if lat else None,
        "check": result,
    }
    print(json.dumps(report, indent=2, default=str))
    ok = (result["still_due"] == 0 and result["renewals"] == done["renewed"]
          and result["events"].get("entitlement.revoke", 0) == done["expired"])
    if not ok:
        raise SystemExit("check failed: " + json.dumps(result, default=str))


if __name__ == "__main__":
    asyncio.run(main())
