"""Benchmarks: M-Pesa C2B confirmations against ``tvtopup serve``, next to the ceilings.

    python bench/run.py [--duration 10] [--connections 50] [--only NAME ...] [--out bench/results.json]

Each scenario starts its server on a fresh database, seeds ``--cards`` subscribers,
warms up, then runs ``wrk`` (Debian's package) with ``bench/c2b.lua`` posting unique
confirmations. After each gateway run the database is checked: every acknowledged
confirmation is a payment, no transaction id was credited twice, and every unit of
the ledger sums to zero. Results print as a table and are written as JSON.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from billing_core.db import ledger_store, subscriber_store  # noqa: E402
from billing_core.db.database import open_database  # noqa: E402
from billing_core.db.migrate import upgrade  # noqa: E402
from billing_core.db.schema import payments  # noqa: E402
import pgdb  # noqa: E402  (bench/ is on the path when run as a script)



def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_up(port: int, path: str = "/healthz", timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            req = urllib.request.Request(f"http://127.0.0.1:{port}{path}")
            urllib.request.urlopen(req, timeout=1).read()
            return
        except urllib.error.HTTPError:
            return  # a 404/405 still means it is listening
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"server on port {port} did not come up")


async def seed(url: str, cards: int) -> None:
    await upgrade(url)
    db = open_database(url)

    def tx(conn):
        pkg = subscriber_store.insert_package(conn, "BASIC", "Basic", 30, 150, ("101",), int(time.time()))
        for i in range(cards):
            subscriber_store.insert_subscriber(conn, str(10_000_000 + i), f"+2547{10_000_000 + i:08d}"[:13], "",
                                               "en", pkg.id, int(time.time()))

    await db.write(tx)
    await db.close()


async def verify(url: str) -> dict:
    db = open_database(url)

    def tx(conn):
        from sqlalchemy import func, select

        n = conn.execute(select(func.count()).select_from(payments)).scalar_one()
        distinct = conn.execute(select(func.count(payments.c.provider_txid.distinct()))).scalar_one()
        return {"payments": n, "distinct_txids": distinct, "units": ledger_store.postings_sum_by_unit(conn)}

    out = await db.read(tx)
    await db.close()
    return out


def wrk(port: int, duration: int, connections: int, run: str, cards: int) -> dict:
    env = {**os.environ, "BENCH_RUN": run, "BENCH_CARDS": str(cards)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--timeout", "5s",
                           "-s", str(ROOT / "bench" / "c2b.lua"), f"http://127.0.0.1:{port}"],
                          capture_output=True, text=True, env=env, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    seconds = result["duration_us"] / 1e6
    result["rps"] = round((result["requests"] - result["non_2xx"]) / seconds)
    result["wrk_cpu_pct"] = round(100 * ((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime))
                                  / seconds)
    return result


class Server:
    def __init__(self, argv: list[str], env: dict, port: int, ready_path: str = "/healthz"):
        self.proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     cwd=tempfile.gettempdir())
        self.port = port
        try:
            wait_up(port, ready_path)
        except RuntimeError:
            self.stop()
            raise

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def gateway_env(url: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TVTOPUP_")}
    env.update({"TVTOPUP_DATABASE_URL": url, "TVTOPUP_LOGGING__LEVEL": "WARNING"})
    return env


def scenario(name: str, argv: list[str], env: dict, port: int, args, url: str | None) -> dict:
    server = Server(argv, env, port, "/healthz" if url else "/")
    try:
        wrk(port, 2, args.connections, "W", args.cards)  # warm-up
        result = wrk(port, args.duration, args.connections, "R", args.cards)
    finally:
        server.stop()
    result["name"] = name
    if url:
        result["check"] = asyncio.run(verify(url))
    print(f"  {name:<38} {result['rps']:>7} req/s  p50 {result['p50_us'] / 1000:6.1f} ms  "
          f"p99 {result['p99_us'] / 1000:6.1f} ms  non-2xx {result['non_2xx']}  wrk cpu {result['wrk_cpu_pct']}%",
          flush=True)
    return result


def run_all(args) -> list[dict]:
    py = sys.executable
    results = []
    want = set(args.only or ["bare", "raw-sqlite", "gateway-sqlite", "raw-postgresql", "gateway-postgresql-2"])
    with tempfile.TemporaryDirectory() as tmp:
        if "bare" in want:
            port = free_port()
            results.append(scenario("bare aiohttp (1 process)", [py, str(ROOT / "bench/ceilings.py"), "bare",
                                    str(port)], dict(os.environ), port, args, None))
        if "raw-sqlite" in want:
            port = free_port()
            results.append(scenario("raw aiosqlite, 1 tx/request", [py, str(ROOT / "bench/ceilings.py"), "sqlite",
                                    str(port), f"{tmp}/raw.db"], dict(os.environ), port, args, None))
        if "gateway-sqlite" in want:
            url = f"sqlite+aiosqlite:///{tmp}/gateway.db"
            asyncio.run(seed(url, args.cards))
            port = free_port()
            results.append(scenario("tvtopup C2B, SQLite, 1 process", [py, "-m", "gateway", "serve", "--port",
                                    str(port)], gateway_env(url), port, args, url))
        if "raw-postgresql" in want:
            dsn = asyncio.run(pgdb.create("c2b"))
            try:
                port = free_port()
                results.append(scenario("raw asyncpg, 1 tx/request", [py, str(ROOT / "bench/ceilings.py"),
                                        "postgresql", str(port), dsn], dict(os.environ), port, args, None))
            finally:
                asyncio.run(pgdb.drop(dsn))
        for workers in (1, 2):
            if f"gateway-postgresql-{workers}" not in want:
                continue
            dsn = asyncio.run(pgdb.create("c2b"))
            url = pgdb.sqlalchemy_url(dsn)
            try:
                asyncio.run(seed(url, args.cards))
                port = free_port()
                results.append(scenario(f"tvtopup C2B, PostgreSQL, {workers} process(es)",
                                        [py, "-m", "gateway", "serve", "--port", str(port), "--workers",
                                         str(workers)], gateway_env(url), port, args, url))
            finally:
                asyncio.run(pgdb.drop(dsn))
    return results


def machine() -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
            "kernel": platform.release(), "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--cards", type=int, default=1000)
    parser.add_argument("--only", nargs="*", help="bare raw-sqlite gateway-sqlite raw-postgresql "
                                                  "gateway-postgresql-1 gateway-postgresql-2")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results.json")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is needed: apt-get install wrk")
    info = machine()
    print(f"machine: {info['cpu']}, {info['cores']} cores, Python {info['python']}", flush=True)
    results = run_all(args)
    bare = next((r["rps"] for r in results if r["name"].startswith("bare")), None)
    for r in results:
        r["ratio_to_bare"] = round(r["rps"] / bare, 3) if bare else None
    args.out.write_text(json.dumps({"machine": info, "args": vars(args) | {"out": str(args.out)},
                                    "results": results}, indent=2))
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
