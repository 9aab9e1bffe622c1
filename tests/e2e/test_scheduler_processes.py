"""``tvtopup serve --workers 2`` on PostgreSQL: two gateway processes, each running a dispatcher
and a scheduler. Every subscription due is renewed or expired once, and every TV event
reaches the webhook once, in order per card.
"""
from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time

import asyncpg

from billing_core import ledger, subscriptions
from billing_core.context import Billing
from billing_core.db.database import open_database
from billing_core.money import Rates
from tests.peers.fake_tv import FakeTv

SECRET = "two-process-secret"
PRICE, DAYS = 100, 30
CARDS = [f"6000000{n:02d}" for n in range(20)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def seed(url: str) -> None:
    """20 subscriptions that ran out a day ago; every other one's wallet pays the next period."""
    db = open_database(url)
    billing = Billing(db=db, rates=Rates({"KES": 100}), clock=lambda: int(time.time()) - (DAYS + 1) * 86_400)
    try:
        await subscriptions.add_package(billing, "BASIC", "Basic", DAYS, PRICE, ("101",))
        for i, card in enumerate(CARDS):
            await subscriptions.add_subscriber(billing, card, "+254712345678", package="BASIC")
            await subscriptions.credit_tvu(billing, card, PRICE * (2 if i % 2 else 1), source=ledger.TVU_OPENING,
                                           ref=card, kind="opening")
    finally:
        await db.close()


async def pg(url: str, query: str):
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        return await conn.fetch(query)
    finally:
        await conn.close()


async def test_two_gateway_processes_share_the_outbox_and_one_scheduler_leads(pg_url, aiohttp_server, tmp_path):
    await seed(pg_url)
    fake = FakeTv(secret=SECRET)
    fake.delay_s = 0.01
    server = await aiohttp_server(fake.app)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TVTOPUP_")}
    env.update({"TVTOPUP_DATABASE_URL": pg_url, "TVTOPUP_TV__ADAPTER": "webhook",
                "TVTOPUP_TV__URL": str(server.make_url("/hook")), "TVTOPUP_TV__SECRET": SECRET,
                "TVTOPUP_OUTBOX__POLL_S": "0.2", "TVTOPUP_SCHEDULER__INTERVAL_S": "0.5",
                "TVTOPUP_SCHEDULER__LEASE_S": "2", "TVTOPUP_LOGGING__LEVEL": "WARNING"})
    proc = subprocess.Popen([sys.executable, "-m", "gateway", "serve", "--workers", "2", "--port", str(free_port())],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        # per card: the activation's grant and notice, then the sweep's renewal or revoke and notice
        await fake.wait_for(lambda f: len(set(f.ids())) >= 4 * len(CARDS), 60)
        await asyncio.sleep(1.5)  # a second sweep or a second delivery would show now
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            output = proc.communicate(timeout=30)[0]
        except subprocess.TimeoutExpired:
            proc.kill()
            output = proc.communicate()[0]
    assert proc.returncode == 0, output

    rows = await pg(pg_url, "SELECT card, event_id, kind FROM outbox WHERE kind != 'sms.send' ORDER BY id")
    expected: dict[str, list[str]] = {}
    for row in rows:
        expected.setdefault(row["card"], []).append(row["event_id"])
    assert len(fake.ids()) == len(set(fake.ids())) == 4 * len(CARDS) == len(rows)
    for card in CARDS:
        assert fake.ids(card) == expected[card]
    assert fake.overlaps == 0 and fake.bad_signatures == 0
    kinds = [dict(r) for r in await pg(pg_url, "SELECT kind, count(*) AS n FROM outbox GROUP BY kind ORDER BY kind")]
    assert kinds == [{"kind": "entitlement.grant", "n": 30}, {"kind": "entitlement.revoke", "n": 10},
                     {"kind": "osd.message", "n": 40}, {"kind": "sms.send", "n": 40}]
    [renewed] = await pg(pg_url, "SELECT count(*) AS n FROM renewals WHERE reason = 'expiry'")
    assert renewed["n"] == 10
    statuses = {r["status"]: r["n"] for r in await pg(pg_url, "SELECT status, count(*) AS n FROM subscribers "
                                                               "GROUP BY status")}
    assert statuses == {"active": 10, "expired": 10}
