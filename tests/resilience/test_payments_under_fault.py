"""Payments under load and faults, through real ``tvtopup serve --workers 2`` processes on
PostgreSQL.

- 10,000 shuffled M-Pesa confirmations covering 1,000 payments, 200 at a time, across
  two worker processes: exactly 1,000 credits, every unit of the ledger sums to zero.
- kill -9 of a worker at random moments while confirmations flow: the supervisor
  starts it again; every acknowledged payment is recorded once, with its notice in the
  outbox, and nothing is credited twice.

The sender behaves like Daraja: a confirmation that was not acknowledged (an error, a
503, a connection cut by a kill) is sent again until it is.
"""
from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import asyncpg
import pytest

from billing_core.db import subscriber_store
from billing_core.db.database import open_database

pytestmark = pytest.mark.resilience
CONFIRMATION = "/mobile-money/daraja/c2b/confirmation"
ACK = {"ResultCode": 0, "ResultDesc": "Success"}
CARDS = [str(30_000_000 + i) for i in range(200)]
PRICE = 1_000  # TVU: no payment below renews, so each credit is one notice


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def txid(n: int) -> str:
    return f"RS{n:08d}".upper()


def confirmation(n: int) -> dict:
    return {"TransactionType": "Pay Bill", "TransID": txid(n), "TransTime": "20270115103000",
            "TransAmount": f"{10 + n % 7}.00", "BusinessShortCode": "600638", "BillRefNumber": CARDS[n % len(CARDS)],
            "InvoiceNumber": "", "OrgAccountBalance": "1.00", "ThirdPartyTransID": "", "MSISDN": "25470****149",
            "FirstName": "A", "MiddleName": "", "LastName": "B"}


async def seed(url: str) -> None:
    db = open_database(url)
    now = int(time.time())

    def tx(conn):
        pkg = subscriber_store.insert_package(conn, "BIG", "Big", 30, PRICE, ("101",), now)
        for i, card in enumerate(CARDS):
            subscriber_store.insert_subscriber(conn, card, f"+2547{20_000_000 + i:08d}", "", "en", pkg.id, now)

    await db.write(tx)
    await db.close()


class Gateway:
    """``tvtopup serve --workers 2`` on ``url``; the dispatcher sends SMS to the log."""

    def __init__(self, url: str, cwd: Path):
        self.port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("TVTOPUP_")}
        env.update({"TVTOPUP_DATABASE_URL": url, "TVTOPUP_LOGGING__LEVEL": "ERROR",
                    "TVTOPUP_DATABASE__POOL_SIZE": "20"})
        self.proc = subprocess.Popen([sys.executable, "-m", "gateway", "serve", "--workers", "2", "--port",
                                      str(self.port)], cwd=cwd, env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        self.url = f"http://127.0.0.1:{self.port}"

    async def ready(self) -> None:
        deadline = time.monotonic() + 60
        async with aiohttp.ClientSession() as http:
            while time.monotonic() < deadline:
                assert self.proc.poll() is None, self.proc.communicate()[0]
                try:
                    async with http.get(self.url + "/readyz") as resp:
                        if resp.status == 200 and len(self.workers()) == 2:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.2)
        raise AssertionError("gateway not ready")

    def workers(self) -> list[int]:
        """Pids of the supervisor's children."""
        found = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == self.proc.pid:
                found.append(int(stat.parent.name))
        return found

    def stop(self) -> str:
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.communicate(timeout=60)[0]
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.communicate()[0]


async def send_all(url: str, numbers: list[int], concurrency: int) -> dict[int, int]:
    """Send each confirmation until acknowledged; how many attempts each took."""
    attempts: dict[int, int] = {}
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in numbers:
        queue.put_nowait(n)
    acked: set[tuple[int, int]] = set()

    async def sender(http: aiohttp.ClientSession) -> None:
        while True:
            try:
                n = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            for attempt in range(1, 200):
                try:
                    async with http.post(url + CONFIRMATION, json=confirmation(n)) as resp:
                        if resp.status == 200 and await resp.json() == ACK:
                            attempts[n] = attempts.get(n, 0) + attempt
                            break
                except (aiohttp.ClientError, asyncio.TimeoutError):
                    pass
                await asyncio.sleep(0.05 * min(attempt, 10))
            else:
                raise AssertionError(f"confirmation {n} never acknowledged")

    timeout = aiohttp.ClientTimeout(total=20)
    async with aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(limit=concurrency)) as http:
        await asyncio.gather(*(sender(http) for _ in range(concurrency)))
    assert not acked
    return attempts


async def books(url: str) -> dict:
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        payments = await conn.fetch("SELECT provider_txid AS txid, status, "
                                    "count(*) OVER (PARTITION BY provider_txid) AS n FROM payments")
        units = await conn.fetch("SELECT a.unit, sum(b.balance) AS total FROM account_balances b "
                                 "JOIN accounts a ON a.id = b.account_id GROUP BY a.unit")
        sms = await conn.fetchval("SELECT count(*) FROM outbox WHERE kind = 'sms.send'")
        wallets = await conn.fetchval("SELECT -coalesce(sum(b.balance), 0) FROM account_balances b "
                                      "JOIN accounts a ON a.id = b.account_id WHERE a.code LIKE 'wallet:%'")
    finally:
        await conn.close()
    return {"payments": {r["txid"]: (r["status"], r["n"]) for r in payments},
            "units": {r["unit"]: int(r["total"]) for r in units}, "sms": sms, "wallets": int(wallets)}


def expected_tvu(numbers) -> int:
    return sum(10 + n % 7 for n in numbers)  # KES 1 = 1 TVU by default


async def test_ten_thousand_shuffled_confirmations_credit_exactly_one_thousand(pg_url, tmp_path) -> None:
    await seed(pg_url)
    gateway = Gateway(pg_url, tmp_path)
    try:
        await gateway.ready()
        numbers = [n for n in range(1000) for _ in range(10)]
        random.Random(2026).shuffle(numbers)
        attempts = await send_all(gateway.url, numbers, concurrency=200)
        assert len(attempts) == 1000
    finally:
        output = gateway.stop()
    assert gateway.proc.returncode == 0, output[-3000:]
    found = await books(pg_url)
    assert len(found["payments"]) == 1000
    assert all(status == "credited" and n == 1 for status, n in found["payments"].values())
    assert set(found["units"].values()) == {0}, found["units"]
    assert found["wallets"] == expected_tvu(range(1000))
    assert found["sms"] == 1000


async def test_kill_9_of_workers_under_load_loses_no_acknowledged_payment(pg_url, tmp_path) -> None:
    await seed(pg_url)
    gateway = Gateway(pg_url, tmp_path)
    rng = random.Random(9)
    kills = []
    try:
        await gateway.ready()
        numbers = list(range(2000))

        async def killer() -> None:
            for _ in range(3):
                await asyncio.sleep(rng.uniform(0.5, 2.0))
                victims = gateway.workers()
                if victims:
                    victim = rng.choice(victims)
                    os.kill(victim, signal.SIGKILL)
                    kills.append(victim)

        sent, _ = await asyncio.gather(send_all(gateway.url, numbers, concurrency=50), killer())
        assert len(sent) == 2000
        assert len(kills) == 3
        await gateway.ready()  # the supervisor started the killed workers again
        assert not set(kills) & set(gateway.workers())
    finally:
        output = gateway.stop()
    assert "died with code -9: starting it again" in output, output[-3000:]
    found = await books(pg_url)
    assert len(found["payments"]) == 2000
    assert all(status == "credited" and n == 1 for status, n in found["payments"].values())
    assert set(found["units"].values()) == {0}, found["units"]
    assert found["wallets"] == expected_tvu(range(2000))
    assert found["sms"] == 2000  # every credit's notice is in the outbox, none twice
