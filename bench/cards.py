"""Benchmarks of scratch cards: bulk generation, and redemptions next to mobile-money payments.

    python bench/cards.py [--count 1000000] [--small 100000] [--redemptions 5000] [--concurrency 50]
                          [--only sqlite postgresql] [--out bench/cards.json]

Generation runs the real command, ``tvtopup cards generate``, in a child process on a
fresh database, once with ``--small`` cards and once with ``--count``: wall time and
the child's peak RSS (``VmHWM``, or ``getrusage`` where there is no /proc) for each show that
memory stays flat as the count grows. Each batch is then checked: as many cards as CSV rows, all PIN
hashes distinct.

Redemptions run in this process on the same database: ``--redemptions`` activated
cards redeemed by ``--concurrency`` concurrent callers of ``redeem_card`` (in-process
lockouts) onto 1,000 subscribers, then as many M-Pesa payments through
``record_payment`` with the same concurrency onto 1,000 other subscribers (so both
phases renew alike), for comparison. The ledger must sum to
zero afterwards.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from billing_core import cards, payments  # noqa: E402
from billing_core.context import Billing  # noqa: E402
from billing_core.db import ledger_store, subscriber_store  # noqa: E402
from billing_core.db.database import open_database  # noqa: E402
from billing_core.db.migrate import upgrade  # noqa: E402
from billing_core.db.payment_store import PaymentNotice  # noqa: E402
from billing_core.db.schema_cards import cards as cards_table  # noqa: E402
from billing_core.money import Money, Rates  # noqa: E402
from billing_core.pins import PinKey, PinPolicy  # noqa: E402
from gateway.state import MemoryState, StateLockouts  # noqa: E402
import pgdb  # noqa: E402  (bench/ is on the path when run as a script)

PIN_KEY = "bench-pin-key-0123456789abcdef"
SUBSCRIBERS = 1_000



# ``tvtopup`` in the child, which then reports its own peak RSS. The child's getrusage (or
# wait4's) is no use here: on Linux a child's ru_maxrss keeps the high-water mark of the
# memory it shared with this (larger) process before exec; VmHWM is the exec'd image's alone.
CHILD = """
import resource, sys
from gateway.cli import main
code = main(sys.argv[1:])
try:
    with open("/proc/self/status") as fh:
        peak_kb = int(next(line for line in fh if line.startswith("VmHWM")).split()[1])
except (OSError, StopIteration):
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(f"peak_rss_kb={peak_kb}", file=sys.stderr)
sys.exit(code)
"""


def generate(url: str, count: int, workdir: Path) -> dict:
    """``tvtopup cards generate`` in a child process: wall time and the child's peak RSS."""
    out = workdir / f"batch-{count}-{uuid.uuid4().hex[:6]}.csv"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TVTOPUP_")}
    env.update(TVTOPUP_DATABASE_URL=url, TVTOPUP_SECURITY__PIN_KEY=PIN_KEY)
    cmd = [sys.executable, "-c", CHILD, "cards", "generate", "--batch", f"BENCH-{count}-{out.stem[-6:]}",
           "--count", str(count), "--tvu", "100", "--out", str(out), "--json"]
    started = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"generate failed: {done.stderr[-2000:]}")
    batch = json.loads(done.stdout)
    peak_kb = int(done.stderr.rsplit("peak_rss_kb=", 1)[1].split()[0])
    with out.open() as fh:
        rows = sum(1 for _ in fh) - 1
    out.unlink()
    return {"cards": count, "seconds": round(seconds, 2), "cards_per_s": round(count / seconds),
            "peak_rss_mb": round(peak_kb / 1024, 1), "csv_rows": rows, "batch": batch["batch"]}


async def check_batches(url: str) -> dict:
    from sqlalchemy import func, select

    db = open_database(url)
    try:
        return await db.read(lambda conn: {
            "cards": conn.execute(select(func.count()).select_from(cards_table)).scalar_one(),
            "distinct_hashes": conn.execute(select(func.count(cards_table.c.pin_hash.distinct()))).scalar_one()})
    finally:
        await db.close()


async def concurrently(calls, concurrency: int) -> tuple[float, int]:
    """Run the awaitable factories in ``calls`` with ``concurrency`` workers: (seconds, errors)."""
    queue = iter(calls)
    errors = 0

    async def worker() -> None:
        nonlocal errors
        for call in queue:
            try:
                await call()
            except Exception as exc:  # noqa: BLE001 - counted and shown
                errors += 1
                if errors <= 3:
                    print(f"  error: {type(exc).__name__}: {exc}", file=sys.stderr)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started, errors


async def redeem_vs_pay(url: str, n: int, concurrency: int) -> dict:
    db = open_database(url, pool_size=concurrency)
    billing = Billing(db=db, rates=Rates({"KES": 100}),
                      pins=PinPolicy(current=PinKey(1, PIN_KEY.encode()), spike_per_minute=10 ** 9))
    lockouts = StateLockouts(MemoryState(), failures=10 ** 6, window_s=60, lockout_s=60)
    # each phase credits its own subscribers, from the same starting point (renewals included)
    holders = [(str(20_000_000 + i), f"+2547{20_000_000 + i:08d}") for i in range(2 * SUBSCRIBERS)]
    redeemers, payers = holders[:SUBSCRIBERS], holders[SUBSCRIBERS:]

    def seed(conn):
        now = int(time.time())
        pkg = subscriber_store.insert_package(conn, "BENCH", "Bench", 30, 150, ("101",), now)
        for card, msisdn in holders:
            subscriber_store.insert_subscriber(conn, card, msisdn, "", "en", pkg.id, now)

    await db.write(seed)
    rows: list[tuple[str, str]] = []
    name = f"REDEEM-{uuid.uuid4().hex[:6]}"
    await cards.generate_batch(billing, name=name, count=n, tvu=100, sink=rows.extend)
    await cards.activate_cards(billing, name)
    pins = [pin for _serial, pin in rows]

    def redeem(i: int):
        card, msisdn = redeemers[i % SUBSCRIBERS]
        return lambda: cards.redeem_card(billing, lockouts, pin=pins[i], msisdn=msisdn, channel="ussd", card=card)

    def pay(i: int):
        card, msisdn = payers[i % SUBSCRIBERS]
        notice = PaymentNotice(provider="mpesa", txid=f"BENCH{i:08d}", account=card, amount=Money(10_000, "KES"),
                               msisdn=msisdn)
        return lambda: payments.record_payment(billing, notice)

    redeem_s, redeem_errors = await concurrently((redeem(i) for i in range(n)), concurrency)
    pay_s, pay_errors = await concurrently((pay(i) for i in range(n)), concurrency)
    units = await db.read(ledger_store.postings_sum_by_unit)
    report = {r.batch.name: r for r in await cards.card_report(billing)}[name]
    await db.close()
    return {"redemptions": n, "concurrency": concurrency, "redeem_per_s": round(n / redeem_s),
            "redeem_errors": redeem_errors, "payments_per_s": round(n / pay_s), "payment_errors": pay_errors,
            "cards_redeemed": report.redeemed, "ledger_sums": units, "ledger_ok": set(units.values()) <= {0},
            "bench_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


async def run_backend(name: str, args, workdir: Path) -> dict:
    url = f"sqlite+aiosqlite:///{workdir / 'cards.db'}" if name == "sqlite" else pgdb.sqlalchemy_url(await pgdb.create("cards"))
    try:
        await upgrade(url)
        result = {"backend": name, "generate": []}
        for count in (args.small, args.count):
            print(f"{name}: generating {count:,} cards ...", file=sys.stderr)
            result["generate"].append(generate(url, count, workdir))
        result["stored"] = await check_batches(url)
        print(f"{name}: {args.redemptions:,} redemptions and payments at concurrency {args.concurrency} ...",
              file=sys.stderr)
        result["redeem"] = await redeem_vs_pay(url, args.redemptions, args.concurrency)
        return result
    finally:
        if name == "postgresql":
            await pgdb.drop(url)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--small", type=int, default=100_000)
    parser.add_argument("--redemptions", type=int, default=5_000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--only", nargs="+", choices=("sqlite", "postgresql"), default=["sqlite", "postgresql"])
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "cards.json")
    args = parser.parse_args()
    results = []
    for name in args.only:
        with tempfile.TemporaryDirectory(prefix="tvtopup-cards-bench-") as tmp:
            results.append(asyncio.run(run_backend(name, args, Path(tmp))))
    report = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                          "load_avg": os.getloadavg()}, "results": results}
    args.out.write_text(json.dumps(report, indent=2))
    print(f"{'backend':<11} {'cards':>9} {'seconds':>8} {'cards/s':>8} {'peak MB':>8}")
    for r in results:
        for g in r["generate"]:
            print(f"{r['backend']:<11} {g['cards']:>9,} {g['seconds']:>8} {g['cards_per_s']:>8,} {g['peak_rss_mb']:>8}")
    print(f"\n{'backend':<11} {'conc':>5} {'redeem/s':>9} {'pay/s':>7} {'errors':>7} ledger")
    for r in results:
        x = r["redeem"]
        print(f"{r['backend']:<11} {x['concurrency']:>5} {x['redeem_per_s']:>9,} {x['payments_per_s']:>7,} "
              f"{x['redeem_errors'] + x['payment_errors']:>7} {'ok' if x['ledger_ok'] else 'UNBALANCED'}")
    ok = all(r["redeem"]["ledger_ok"] and r["redeem"]["cards_redeemed"] == r["redeem"]["redemptions"]
             and r["stored"]["cards"] == r["stored"]["distinct_hashes"]
             == sum(g["cards"] for g in r["generate"]) + r["redeem"]["redemptions"] for r in results)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
