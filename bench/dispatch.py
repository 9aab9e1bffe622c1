"""Benchmark: outbox dispatch throughput to a local webhook receiver (events per second).

    python bench/dispatch.py [--events 20000] [--cards 2000] [--db sqlite|postgresql]
                             [--dispatchers 1] [--batch 100] [--delay-ms 0]

Fills a fresh outbox with ``--events`` on-screen messages spread over ``--cards``
cards, starts a receiver in another process (it checks every
``X-Tvtopup-Signature`` and counts), then runs ``--dispatchers`` dispatchers (each
on its own database handle; several only make sense on PostgreSQL) with the
``webhook`` adapter until nothing is pending. Reports events/s, and checks that
every event was received (duplicates would show as received > events).
"""
from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pgdb  # noqa: E402  (bench/ is on the path when run as a script)

SECRET = "bench-secret"


def receiver(port: int, delay_ms: float) -> None:
    """The receiver process: verify, count, answer 200 (after ``delay_ms``)."""
    from aiohttp import web

    seen = {"requests": 0, "bad": 0, "ids": set()}

    async def hook(request: web.Request) -> web.Response:
        body = await request.read()
        expected = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        if request.headers.get("X-Tvtopup-Signature") != expected:
            seen["bad"] += 1
            return web.Response(status=401)
        seen["requests"] += 1
        seen["ids"].add(json.loads(body)["id"])
        if delay_ms:
            await asyncio.sleep(delay_ms / 1000)
        return web.Response(status=204)

    async def count(_request: web.Request) -> web.Response:
        return web.json_response({"requests": seen["requests"], "distinct": len(seen["ids"]), "bad": seen["bad"]})

    app = web.Application()
    app.router.add_post("/hook", hook)
    app.router.add_get("/count", count)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def wait_up(url: str) -> None:
    import aiohttp

    async with aiohttp.ClientSession() as session:
        for _ in range(100):
            try:
                async with session.get(url) as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError("receiver did not come up")


async def received(url: str) -> dict:
    import aiohttp

    async with aiohttp.ClientSession() as session:
        async with session.get(url) as resp:
            return await resp.json()


async def database(kind: str) -> tuple[str, object]:
    """A migrated database URL and how to drop it."""
    from billing_core.db.migrate import upgrade

    if kind == "sqlite":
        tmp = tempfile.TemporaryDirectory()
        url = f"sqlite+aiosqlite:///{tmp.name}/bench.db"
        await upgrade(url)
        return url, tmp.cleanup
    dsn = await pgdb.create("dispatch")
    url = pgdb.sqlalchemy_url(dsn)

    async def drop() -> None:
        await pgdb.drop(dsn)

    await upgrade(url)
    return url, drop


async def run(args) -> dict:
    from billing_core.db import outbox_store
    from billing_core.db.database import open_database
    from config.settings import load_settings
    from tv_notify import events
    from tv_notify.dispatcher import Dispatcher

    port = free_port()
    proc = subprocess.Popen([sys.executable, __file__, "--receiver", str(port), "--delay-ms", str(args.delay_ms)])
    url, drop = await database(args.db)
    try:
        await wait_up(f"http://127.0.0.1:{port}/count")
        now = int(time.time())
        seed = open_database(url)
        for start in range(0, args.events, 5000):
            chunk = [events.osd(str(10_000_000 + i % args.cards), f"bench notice {i}", "en")
                     for i in range(start, min(args.events, start + 5000))]
            await seed.write(outbox_store.enqueue, chunk, now)
        await seed.close()

        settings = load_settings(environ={}).replace(**{
            "database.url": url, "tv.adapter": "webhook", "tv.url": f"http://127.0.0.1:{port}/hook",
            "tv.secret": SECRET, "outbox.batch_size": args.batch, "outbox.poll_s": 0.05})
        dbs = [open_database(url) for _ in range(args.dispatchers)]
        dispatchers = [Dispatcher.from_settings(settings, db, lambda: int(time.time())) for db in dbs]
        stop = asyncio.Event()
        started = time.perf_counter()
        tasks = [asyncio.create_task(d.run_forever(stop)) for d in dispatchers]
        while True:
            await asyncio.sleep(0.1)
            if not (await dbs[0].read(outbox_store.counts)).get("pending"):
                break
        elapsed = time.perf_counter() - started
        stop.set()
        for d in dispatchers:
            d.wake()
        await asyncio.gather(*tasks)
        got = await received(f"http://127.0.0.1:{port}/count")
        for d in dispatchers:
            await d.close()
        for db in dbs:
            await db.close()
    finally:
        proc.terminate()
        proc.wait()
        result = drop()
        if asyncio.iscoroutine(result):
            await result
    return {"db": args.db, "events": args.events, "cards": args.cards, "dispatchers": args.dispatchers,
            "batch": args.batch, "receiver_delay_ms": args.delay_ms, "seconds": round(elapsed, 2),
            "events_per_s": round(args.events / elapsed), "received": got["requests"], "distinct": got["distinct"],
            "bad_signatures": got["bad"], "delivered_by": [d.delivered for d in dispatchers]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=20_000)
    ap.add_argument("--cards", type=int, default=2_000)
    ap.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    ap.add_argument("--dispatchers", type=int, default=1)
    ap.add_argument("--batch", type=int, default=100, help="outbox.batch_size")
    ap.add_argument("--delay-ms", type=float, default=0.0, help="receiver's answer time")
    ap.add_argument("--receiver", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.receiver:
        receiver(args.receiver, args.delay_ms)
        return
    report = asyncio.run(run(args))
    print(json.dumps(report, indent=2))
    if report["distinct"] != args.events or report["bad_signatures"]:
        raise SystemExit("check failed: not every event arrived, or a signature was wrong")


if __name__ == "__main__":
    main()
