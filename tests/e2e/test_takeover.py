"""kill -9 of a worker of ``tvtopup serve --workers 2`` on PostgreSQL, with the default leases:
another process takes over the dead one's outbox leases, and the scheduler's lead, within
seconds (they used to wait about 21 s and 70 s).

The webhook receiver answers slowly, so a worker always has a batch in flight (its leases
renewed by its heartbeat) when it is killed. Takeover is measured from the kill to the
first moment the database shows another holder.
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

SECRET = "takeover-secret"
CARDS = [f"5100000{n:02d}" for n in range(30)]
TAKEOVER_S_MAX = 10


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def raw(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def seed(url: str) -> None:
    db = open_database(url)
    billing = Billing(db=db, rates=Rates({"KES": 100}))
    try:
        await subscriptions.add_package(billing, "BASIC", "Basic", 30, 100, ("101",))
        for card in CARDS:
            await subscriptions.add_subscriber(billing, card, "+254712345678", package="BASIC")
            await subscriptions.credit_tvu(billing, card, 300, source=ledger.TVU_OPENING, ref=card, kind="opening")
            await subscriptions.renew(billing, card)
    finally:
        await db.close()


def start(url: str, hook: str, cwd) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TVTOPUP_")}
    env.update({"TVTOPUP_DATABASE_URL": url, "TVTOPUP_TV__ADAPTER": "webhook", "TVTOPUP_TV__URL": hook,
                "TVTOPUP_TV__SECRET": SECRET, "TVTOPUP_TV__TIMEOUT_S": "30", "TVTOPUP_LOGGING__LEVEL": "WARNING"})
    return subprocess.Popen([sys.executable, "-m", "gateway", "serve", "--workers", "2", "--port", str(free_port())],
                            cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def pid_of(holder: str) -> int:
    return int(holder.split(":")[-2])


async def poll(conn, query: str, ok, timeout_s: float, every_s: float = 0.1):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = await conn.fetchval(query)
        if ok(value):
            return value
        await asyncio.sleep(every_s)
    raise AssertionError(f"{query!r} never satisfied")


async def stop(proc: subprocess.Popen) -> str:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        return (await asyncio.to_thread(proc.communicate, timeout=30))[0]
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.communicate()[0]


async def test_a_killed_workers_leases_and_lead_are_taken_over_within_seconds(pg_url, aiohttp_server, tmp_path):
    await seed(pg_url)
    fake = FakeTv(secret=SECRET)
    fake.delay_s = 4.0  # every delivery is slow: batches stay in flight, their leases renewed
    server = await aiohttp_server(fake.app)
    proc = start(pg_url, str(server.make_url("/hook")), tmp_path)
    conn = await asyncpg.connect(raw(pg_url))
    try:
        # the scheduler's leader, and a worker holding outbox leases
        leader = await poll(conn, "SELECT holder FROM worker_leases WHERE name = 'scheduler'", bool, 60)
        leased = await poll(conn, "SELECT claimed_by FROM outbox WHERE claimed_by IS NOT NULL AND status = 'pending' "
                                  "AND lease_until > extract(epoch FROM now()) LIMIT 1", bool, 60)
        await asyncio.sleep(8)  # longer than the leases: a live worker keeps them by renewing
        assert await conn.fetchval("SELECT count(*) FROM outbox WHERE claimed_by = $1", leased) > 0
        assert await conn.fetchval("SELECT holder FROM worker_leases WHERE name = 'scheduler'") == leader

        victim = pid_of(leased)
        held = [r["id"] for r in await conn.fetch("SELECT id FROM outbox WHERE claimed_by = $1", leased)]
        lead_lost = pid_of(leader) == victim
        killed_at = time.monotonic()
        os.kill(victim, signal.SIGKILL)
        ids = ",".join(map(str, held))
        await poll(conn, f"SELECT count(*) FROM outbox WHERE id IN ({ids}) AND claimed_by IS NOT DISTINCT FROM "
                         f"'{leased}' AND status = 'pending'", lambda n: n == 0, 60)
        leases_s = time.monotonic() - killed_at
        lead_s = None
        if lead_lost:
            await poll(conn, "SELECT holder FROM worker_leases WHERE name = 'scheduler' AND "
                             "lease_until > extract(epoch FROM now())", lambda h: h and h != leader, 120)
            lead_s = time.monotonic() - killed_at
        else:  # kill the leader too, now that the other is back
            victim = pid_of(leader)
            killed_at = time.monotonic()
            os.kill(victim, signal.SIGKILL)
            await poll(conn, "SELECT holder FROM worker_leases WHERE name = 'scheduler' AND "
                             "lease_until > extract(epoch FROM now())", lambda h: h and h != leader, 120)
            lead_s = time.monotonic() - killed_at
    finally:
        await conn.close()
        output = await stop(proc)
    print(f"outbox leases taken over after {leases_s:.1f} s, the scheduler's lead after {lead_s:.1f} s")
    assert leases_s < TAKEOVER_S_MAX, (leases_s, output[-2000:])
    assert lead_s < TAKEOVER_S_MAX, (lead_s, output[-2000:])
