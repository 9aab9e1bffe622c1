"""Benchmark: USSD hops through ``tvtopup serve`` with sessions in Redis.

    python bench/ussd.py [--phones 500] [--think 5.0] [--duration 20] [--workers 1]
                         [--database sqlite|postgresql] [--out FILE]

``--phones`` simulated handsets (default 500) each dial in and walk a 4-step journey
again and again, pausing ``--think`` seconds on average between hops as a person reading
a screen does (0: back to back, which measures saturation rather than latency): dial (the phone's cards are looked up), 1 (balance, a fresh read),
0 (back), 3 (the package list), which ends the session. Each hop is one POST of
Africa's Talking's form, with the growing ``text``. The load generator is this Python
process (aiohttp, one event loop); its own CPU use is printed so it can be seen not
to be the limit. Reports hops/s, and p50/p99 per step.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import random
import resource
import sys
import tempfile
import time
import uuid
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import Server, free_port, gateway_env, machine, seed  # noqa: E402
import pgdb  # noqa: E402

JOURNEY = ("", "1", "1*0", "1*0*3")
STEPS = ("dial", "balance", "back", "packages")


async def phone(http: aiohttp.ClientSession, url: str, msisdn: str, stop_at: float,
                timings: list[list[float]], errors: list[str], think_s: float, rng: random.Random) -> None:
    while time.monotonic() < stop_at:
        sid = uuid.uuid4().hex
        for i, text in enumerate(JOURNEY):
            if think_s:
                await asyncio.sleep(rng.uniform(0.5 * think_s, 1.5 * think_s))
            started = time.perf_counter()
            async with http.post(url, data={"sessionId": sid, "serviceCode": "*123#", "phoneNumber": msisdn,
                                            "networkCode": "63902", "text": text}) as resp:
                body = await resp.text()
            timings[i].append(time.perf_counter() - started)
            if resp.status != 200 or not body.startswith("CON "):
                errors.append(f"{resp.status} {body[:60]}")
                break


async def drive(port: int, phones: int, duration_s: float, think_s: float) -> dict:
    url = f"http://127.0.0.1:{port}/ussd/africastalking"
    timings: list[list[float]] = [[] for _ in JOURNEY]
    errors: list[str] = []
    connector = aiohttp.TCPConnector(limit=phones)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30)) as http:
        rng = random.Random(7)
        warm_until = time.monotonic() + 2
        await asyncio.gather(*(phone(http, url, _msisdn(i), warm_until, [[] for _ in JOURNEY], [], think_s, rng)
                               for i in range(phones)))
        cpu0, wall0 = _cpu(), time.monotonic()
        await asyncio.gather(*(phone(http, url, _msisdn(i), wall0 + duration_s, timings, errors, think_s, rng)
                               for i in range(phones)))
        cpu, wall = _cpu() - cpu0, time.monotonic() - wall0
    hops = sum(len(t) for t in timings)
    return {"phones": phones, "think_s": think_s, "hops": hops, "hops_per_s": round(hops / wall), "errors": len(errors),
            "first_errors": errors[:3], "client_cpu_pct": round(100 * cpu / wall),
            "steps": {name: {"p50_ms": _pct(t, 50), "p99_ms": _pct(t, 99), "n": len(t)}
                      for name, t in zip(STEPS, timings)}}


def _msisdn(i: int) -> str:
    return f"+2547{10_000_000 + i:08d}"[:13]


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _pct(values: list[float], pct: int) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return round(1000 * ordered[min(len(ordered) - 1, len(ordered) * pct // 100)], 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--phones", type=int, default=500)
    parser.add_argument("--duration", type=float, default=20)
    parser.add_argument("--think", type=float, default=5.0, help="mean seconds between a phone's hops")
    parser.add_argument("--workers", type=int, default=1, help="gateway processes (serve --workers)")
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--out", default="")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        dsn = asyncio.run(pgdb.create("ussd")) if args.database == "postgresql" else ""
        url = pgdb.sqlalchemy_url(dsn) if dsn else f"sqlite+aiosqlite:///{tmp}/bench.db"
        try:
            asyncio.run(seed(url, args.phones))
            port = free_port()
            env = gateway_env(url)
            env.update({"TVTOPUP_REDIS_URL": args.redis, "TVTOPUP_REDIS__KEY_PREFIX": f"bench-{uuid.uuid4().hex[:8]}:",
                        "TVTOPUP_USSD__STEPS_PER_MINUTE": "100000"})
            server = Server([sys.executable, "-m", "gateway", "serve", "--port", str(port),
                             "--workers", str(args.workers)], env, port, "/healthz")
            try:
                result = asyncio.run(drive(port, args.phones, args.duration, args.think))
            finally:
                server.stop()
        finally:
            if dsn:
                asyncio.run(pgdb.drop(dsn))
    result.update({"database": args.database, "machine": machine()})
    print(json.dumps(result, indent=2))
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
