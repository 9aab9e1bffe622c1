"""Soak: steady M-Pesa confirmations for a long while, watching the gateway's memory.

    python bench/soak.py [--minutes 10] [--rate 300] [--database sqlite|postgresql]

``tvtopup serve`` runs on a fresh database; wrk posts unique C2B confirmations at a fixed
``--rate`` (wrk's ``-R`` is not in Debian's wrk, so the rate comes from connections and a
paced Lua script: each connection waits between requests) in one-minute rounds, each
round with its own transaction-id letter, for ``--minutes``. Every 10 s the gateway's
resident memory (VmRSS) is sampled. It reports the memory after the first minute, at the
end and at its peak, the slope of a least-squares line through the samples after the
first minute (MiB per minute), and the requests served. Memory is "flat" when the slope
is within noise (well under 1 MiB/min) and the end is within a few MiB of the start.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import string
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import ROOT, Server, free_port, gateway_env, machine, seed, verify  # noqa: E402
import pgdb  # noqa: E402

SAMPLE_S = 10


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def slope(points: list[tuple[float, float]]) -> float:
    n = len(points)
    if n < 2:
        return 0.0
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    den = sum((x - mx) ** 2 for x, _ in points) or 1.0
    return sum((x - mx) * (y - my) for x, y in points) / den


def wrk_round(port: int, seconds: int, rate: int, letter: str, cards: int) -> int:
    connections = max(1, min(50, rate // 20))
    env = {**os.environ, "BENCH_RUN": letter, "BENCH_CARDS": str(cards),
           "BENCH_PAUSE_MS": str(int(1000 * connections / rate))}
    done = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "5s",
                           "-s", str(ROOT / "bench" / "c2b.lua"), f"http://127.0.0.1:{port}"],
                          capture_output=True, text=True, env=env, check=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return result["requests"] - result["non_2xx"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=int, default=10)
    parser.add_argument("--rate", type=int, default=300, help="confirmations per second offered")
    parser.add_argument("--cards", type=int, default=1000)
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    args = parser.parse_args()
    letters = string.ascii_uppercase
    if args.minutes > len(letters):
        raise SystemExit(f"--minutes is at most {len(letters)} (one transaction-id letter per minute)")
    with tempfile.TemporaryDirectory() as tmp:
        dsn = asyncio.run(pgdb.create("soak")) if args.database == "postgresql" else ""
        url = pgdb.sqlalchemy_url(dsn) if dsn else f"sqlite+aiosqlite:///{tmp}/soak.db"
        try:
            asyncio.run(seed(url, args.cards))
            port = free_port()
            server = Server([sys.executable, "-m", "gateway", "serve", "--port", str(port)], gateway_env(url), port)
            samples: list[tuple[float, float]] = []
            stop = threading.Event()
            started = time.monotonic()

            def sampler() -> None:
                while not stop.wait(SAMPLE_S):
                    samples.append(((time.monotonic() - started) / 60, rss_mib(server.proc.pid)))

            thread = threading.Thread(target=sampler, daemon=True)
            thread.start()
            served = 0
            try:
                for minute in range(args.minutes):
                    served += wrk_round(port, 60, args.rate, letters[minute], args.cards)
            finally:
                stop.set()
                thread.join()
                server.stop()
            check = asyncio.run(verify(url))
        finally:
            if dsn:
                asyncio.run(pgdb.drop(dsn))
    steady = [p for p in samples if p[0] >= 1.0] or samples
    result = {"minutes": args.minutes, "rate_offered": args.rate, "served": served,
              "served_per_s": round(served / (60 * args.minutes)),
              "rss_mib_after_1_min": round(steady[0][1], 1), "rss_mib_end": round(samples[-1][1], 1),
              "rss_mib_peak": round(max(m for _, m in samples), 1),
              "slope_mib_per_min": round(slope(steady), 3), "check": check, "database": args.database,
              "machine": machine()}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
