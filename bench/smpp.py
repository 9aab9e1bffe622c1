"""Benchmark: the SMPP link's sustained submit_sm rate, and the SMS command round trip.

    python bench/smpp.py [--rates 50,100,200,400] [--seconds 5] [--window 10]
                         [--texts 300] [--texts-per-s 20] [--db sqlite|postgresql]

Both parts run against an in-process SMSC (smpp34, ``tests/peers/smsc.py``) over TCP
on loopback, through one bind.

1. Rate: for each configured ``smpp.rate_per_s`` in ``--rates``, a link submits
   ``rate * seconds`` messages offered by 16 concurrent senders (as the outbox
   dispatcher's lanes do); the SMSC timestamps each ``submit_sm`` it accepts. Reports
   the rate achieved between the first and the last (target: the configured one),
   the largest gap and the most messages seen in any 100 ms (pacing, not bursts).
2. Round trip: ``tvtopup``'s app (``create_app`` with its workers, ``sms.provider =
   smpp``, the real SMS command layer, a fresh database) bound to the SMSC; the SMSC
   sends ``--texts`` texts ``BAL`` from distinct phones at ``--texts-per-s``; each
   reply is a ``submit_sm`` back to that phone. Reports p50, p99 and max of the time
   from ``deliver_sm`` to the reply's ``submit_sm``, which includes the command's
   transaction, the outbox, the dispatcher's wake-up and the rate limit.
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gateway.providers.smpp.link import SmppLink  # noqa: E402
from gateway.providers.smpp.session import LinkConfig, Submission  # noqa: E402
from tests.peers.smsc import TestSmsc  # noqa: E402

SENDERS = 16


async def rate_run(rate: int, seconds: float, window: int) -> dict:
    smsc = TestSmsc()
    await smsc.start()

    async def ignore(pdu):
        return 0

    link = SmppLink(LinkConfig("127.0.0.1", smsc.port, "bench", "bench", "", rate_per_s=rate, window=window,
                               enquire_link_s=30, timeout_s=30), on_deliver=ignore)
    await link.start()
    await link.wait_state("bound", 5)
    total = int(rate * seconds)
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(total):
        queue.put_nowait(n)

    async def sender() -> None:
        while not queue.empty():
            n = queue.get_nowait()
            [outcome] = await link.submit([Submission({"source_addr": "22333", "destination_addr": "254700000000",
                                                       "short_message": f"bench {n}".encode(),
                                                       "registered_delivery": 1})], timeout_s=60)
            assert outcome.accepted

    started = time.monotonic()
    await asyncio.gather(*(sender() for _ in range(SENDERS)))
    wall = time.monotonic() - started
    await link.stop()
    await smsc.stop()
    times = sorted(s.at for s in smsc.accepted)
    achieved = (len(times) - 1) / (times[-1] - times[0])
    burst, j = 0, 0
    for i, t in enumerate(times):
        while times[j] < t - 0.1:
            j += 1
        burst = max(burst, i - j + 1)
    return {"rate": rate, "messages": len(times), "achieved": achieved, "wall": wall,
            "max_gap_ms": 1000 * max(b - a for a, b in zip(times, times[1:])), "max_per_100ms": burst}


async def roundtrip_run(texts: int, per_s: float, db: str) -> dict:
    from aiohttp import web

    from billing_core.db.migrate import upgrade
    from config.settings import load_settings
    from gateway.app import create_app
    from gateway.providers.smpp.lifecycle import SMPP_LINK

    smsc = TestSmsc()
    await smsc.start()
    with tempfile.TemporaryDirectory() as tmp:
        if db == "postgresql":
            sys.path.insert(0, str(ROOT / "bench"))
            import pgdb

            url = pgdb.sqlalchemy_url(await pgdb.create("smpp"))
        else:
            url = f"sqlite+aiosqlite:///{tmp}/bench.db"
        await upgrade(url)
        settings = load_settings(environ={}).replace(**{
            "database.url": url, "sms.provider": "smpp", "smpp.port": smsc.port, "smpp.system_id": "bench",
            "smpp.source_addr": "22333", "smpp.rate_per_s": 200, "sms.inbound_per_hour": 100000,
            "sms.replies_per_hour": 100000, "outbox.poll_s": 1.0})
        runner = web.AppRunner(create_app(settings))
        await runner.setup()
        try:
            await runner.app[SMPP_LINK].wait_state("bound", 5)
            sent_at: dict[str, float] = {}
            phones = [f"2547{10000000 + n:08d}" for n in range(texts)]

            async def text(phone: str) -> None:
                sent_at[phone] = time.monotonic()
                assert await smsc.send_mo(phone, "BAL") == 0

            tasks = []
            for phone in phones:
                tasks.append(asyncio.create_task(text(phone)))
                await asyncio.sleep(1 / per_s)
            await asyncio.gather(*tasks)
            await smsc.wait_submits(texts, timeout_s=60)
            latencies = sorted(1000 * (s.at - sent_at[s.destination_addr]) for s in smsc.accepted)
        finally:
            await runner.cleanup()
            await smsc.stop()
            if db == "postgresql":
                await pgdb.drop(url)
    return {"texts": texts, "p50_ms": statistics.median(latencies),
            "p99_ms": latencies[max(0, int(len(latencies) * 0.99) - 1)], "max_ms": latencies[-1]}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rates", default="50,100,200,400")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--window", type=int, default=10)
    parser.add_argument("--texts", type=int, default=300)
    parser.add_argument("--texts-per-s", type=float, default=20.0)
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    print("| smpp.rate_per_s | messages | achieved / s | max gap | most in 100 ms |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    for rate in (int(r) for r in args.rates.split(",")):
        r = await rate_run(rate, args.seconds, args.window)
        print(f"| {r['rate']} | {r['messages']} | {r['achieved']:.1f} | {r['max_gap_ms']:.1f} ms "
              f"| {r['max_per_100ms']} |", flush=True)
    r = await roundtrip_run(args.texts, args.texts_per_s, args.db)
    print(f"\nround trip, {r['texts']} texts at {args.texts_per_s:g}/s on {args.db}: "
          f"p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms, max {r['max_ms']:.1f} ms")


if __name__ == "__main__":
    asyncio.run(main())
