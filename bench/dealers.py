"""Benchmark: signed dealer top-ups per second against ``tvtopup serve``, next to M-Pesa C2B.

    python bench/dealers.py [--duration 10] [--connections 50] [--db sqlite|postgresql] [--no-c2b]

The server starts on a fresh database with ``--cards`` subscribers of a 150-TVU package
and one dealer (5 % commission) whose float covers every request. The requests are
signed beforehand (wrk's Lua has no HMAC): each is a unique top-up of 1-3 TVU to one
of the cards, with its own Idempotency-Key and a timestamp within the last 100 s, so
no two share a signature (the seen signatures would refuse the second). ``wrk`` replays
them at concurrency ``--connections`` with two threads, each from its own half of the
file. After the run the database is checked: every 201 is one top-up, the float fell
by exactly what the top-ups paid, and the ledger sums to zero in every unit. The C2B
benchmark of ``bench/run.py`` runs in the same invocation (same machine state) for the
comparison.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent))
sys.path.insert(0, str(ROOT))

from billing_core import dealers  # noqa: E402
from billing_core.context import Billing  # noqa: E402
from billing_core.db import ledger_store  # noqa: E402
from billing_core.db.database import open_database  # noqa: E402
from billing_core.money import Rates  # noqa: E402
from gateway.dealer_api.signing import sign  # noqa: E402
import pgdb  # noqa: E402
import run as c2b  # noqa: E402  (bench/run.py: server start-up, seeding, the C2B scenario)

MASTER = "bench-master-key-0123456789abcdef"
FIRST_CARD = 10_000_000

LUA = r"""
-- wrk script: replays pre-signed dealer top-ups from BENCH_FILE (tab-separated: key, ts, signature,
-- idempotency key, body); thread N takes lines N, N+T, N+2T... Prints one JSON line at the end.
local threads, next_id = {}, 0
function setup(thread)
  thread:set("tid", next_id); next_id = next_id + 1; table.insert(threads, thread)
end
function init(args)
  lines, i, step = {}, tid + 1, tonumber(os.getenv("BENCH_THREADS") or "2")
  for line in io.lines(os.getenv("BENCH_FILE")) do table.insert(lines, line) end
end
function request()
  local line = lines[i] or lines[#lines]
  i = i + step
  local key, ts, sig, idem, body = line:match("([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t(.*)")
  return wrk.format("POST", "/api/v1/topups", {["Content-Type"] = "application/json", ["X-Dealer-Key"] = key,
    ["X-Timestamp"] = ts, ["X-Signature"] = sig, ["Idempotency-Key"] = idem}, body)
end
function done(summary, latency, requests)
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "non_2xx": %d, "socket_errors": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d}\n',
    summary.requests, summary.duration, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
"""


async def seed_dealer(url: str) -> tuple[str, str]:
    db = open_database(url)
    billing = Billing(db=db, rates=Rates({"KES": 100}))
    try:
        made = await dealers.add_dealer(billing, "Bench dealer", "KES", master_key=MASTER, commission_pct="5")
        await dealers.fund_dealer(billing, made.dealer.id, "KES 100000000")
        return made.key_id, made.secret
    finally:
        await db.close()


def presign(path: Path, key_id: str, secret: str, count: int, cards: int, run: str) -> None:
    """``count`` unique signed top-ups, each line ``key ts sig idem body``."""
    now = int(time.time())
    with path.open("w") as out:
        for n in range(count):
            card = FIRST_CARD + (n * 7919) % cards
            body = json.dumps({"card": str(card), "tvu": 1 + n % 3}, separators=(",", ":")).encode()
            ts = now - (n // (cards * 3)) % 100
            sig = sign(secret, "POST", "/api/v1/topups", ts, body)
            out.write(f"{key_id}\t{ts}\t{sig}\t{run}-{n}\t{body.decode()}\n")


def wrk(port: int, duration: int, connections: int, file: Path) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as lua:
        lua.write(LUA)
    env = {**os.environ, "BENCH_FILE": str(file), "BENCH_THREADS": "2"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    try:
        done = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--timeout", "5s", "-s", lua.name,
                               f"http://127.0.0.1:{port}"], capture_output=True, text=True, env=env, check=True)
    finally:
        os.unlink(lua.name)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    seconds = result["duration_us"] / 1e6
    result["rps"] = round((result["requests"] - result["non_2xx"]) / seconds)
    result["wrk_cpu_pct"] = round(100 * ((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime))
                                  / seconds)
    return result


async def verify(url: str) -> dict:
    from sqlalchemy import func, select

    from billing_core.db.schema_dealers import dealer_topups, dealers as dealers_table

    db = open_database(url)

    def tx(conn):
        sold = conn.execute(select(func.count(), func.coalesce(func.sum(dealer_topups.c.face_minor
                                                                        - dealer_topups.c.commission_minor), 0))
                            .where(dealer_topups.c.status == "done")).one()
        balance = conn.execute(select(dealers_table.c.balance_minor)).scalar_one()
        return {"topups": sold[0], "float_ok": balance == 10_000_000_000 - int(sold[1]),
                "units": ledger_store.postings_sum_by_unit(conn)}

    try:
        return await db.read(tx)
    finally:
        await db.close()


def dealer_scenario(url: str, args, tmp: str) -> dict:
    asyncio.run(c2b.seed(url, args.cards))
    key_id, secret = asyncio.run(seed_dealer(url))
    port = c2b.free_port()
    env = {**c2b.gateway_env(url), "TVTOPUP_DEALERS__SECRET_KEY": MASTER,
           "TVTOPUP_DEALERS__REQUESTS_PER_MINUTE": "10000000"}
    server = c2b.Server([sys.executable, "-m", "gateway", "serve", "--port", str(port)], env, port)
    try:
        warm, main = Path(tmp) / "warm.tsv", Path(tmp) / "main.tsv"
        presign(warm, key_id, secret, 6_000, args.cards, "W")
        warmed = wrk(port, 2, args.connections, warm)
        presign(main, key_id, secret, max(20_000, 3_000 * args.duration), args.cards, "R")
        result = wrk(port, args.duration, args.connections, main)
    finally:
        server.stop()
    result["name"] = f"dealer top-ups, {args.db}"
    result["check"] = asyncio.run(verify(url))
    answered = warmed["requests"] - warmed["non_2xx"] + result["requests"] - result["non_2xx"]
    # a request cut off by wrk's deadline may still have sold: at most one in flight per connection
    result["check"]["every_201_is_one_topup"] = answered <= result["check"]["topups"] <= answered + 2 * args.connections
    return result


def show(result: dict) -> None:
    print(f"  {result['name']:<32} {result['rps']:>7} req/s  p50 {result['p50_us'] / 1000:6.1f} ms  "
          f"p99 {result['p99_us'] / 1000:6.1f} ms  non-2xx {result['non_2xx']}  wrk cpu {result['wrk_cpu_pct']}%  "
          f"{result.get('check', '')}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--cards", type=int, default=1000)
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--no-c2b", action="store_true", help="skip the M-Pesa C2B comparison")
    args = parser.parse_args()
    info = c2b.machine()
    print(f"machine: {info['cpu']}, {info['cores']} cores, Python {info['python']}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        if args.db == "sqlite":
            show(dealer_scenario(f"sqlite+aiosqlite:///{tmp}/dealers.db", args, tmp))
        else:
            dsn = asyncio.run(pgdb.create("dealers"))
            try:
                show(dealer_scenario(pgdb.sqlalchemy_url(dsn), args, tmp))
            finally:
                asyncio.run(pgdb.drop(dsn))
        if not args.no_c2b and args.db == "sqlite":
            c2b.run_all(argparse.Namespace(duration=args.duration, connections=args.connections, cards=args.cards,
                                           only=["gateway-sqlite"]))  # prints its own line


if __name__ == "__main__":
    main()
