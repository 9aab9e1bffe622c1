"""The running app's workers and their metrics: backlog, lag, failures, scheduler leadership."""
from __future__ import annotations

import asyncio

from billing_core.db import outbox_store
from gateway.keys import BILLING
from tests.peers.fake_tv import FakeTv
from tv_notify import events


def gauge(metrics: str, name: str) -> float:
    for line in metrics.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"no {name} in /metrics")


async def test_metrics_show_backlog_lag_failures_and_the_scheduler_leader(gateway_client, aiohttp_server, clock):
    fake = FakeTv(secret="s")
    fake.fail_first = 1_000  # the TV side is down
    server = await aiohttp_server(fake.app)
    client = await gateway_client(workers=True, **{"tv.adapter": "webhook", "tv.url": str(server.make_url("/hook")),
                                                   "tv.secret": "s"})
    billing = client.app[BILLING]
    await billing.db.write(outbox_store.enqueue, [events.osd("10000001", "hello", "en")], clock.now)

    async def scrape() -> str:
        return await (await client.get("/metrics")).text()

    async def failed_once() -> str:
        while True:
            metrics = await scrape()
            if gauge(metrics, "tvtopup_outbox_failures") >= 1:
                return metrics
            await asyncio.sleep(0.05)

    await asyncio.wait_for(failed_once(), 20)
    clock.advance(120)
    metrics = await scrape()
    assert gauge(metrics, "tvtopup_outbox_pending") == 1
    assert gauge(metrics, "tvtopup_outbox_lag_seconds") == 120
    assert gauge(metrics, "tvtopup_outbox_delivered") == 0
    assert gauge(metrics, "tvtopup_scheduler_leader") == 1
    assert fake.requests >= 1 and fake.received == []
