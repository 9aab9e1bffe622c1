"""Peers going away under load, each a private server of the test's own (never the shared one):

- Redis killed mid-load: USSD answers "service busy" (an END screen, not an error),
  M-Pesa confirmations keep being credited, scratch-card lockouts fail closed; Redis back
  on its port: USSD works again without restarting the gateway.
- PostgreSQL restarted mid-load: confirmations in flight get 503 (never 500), Daraja-like
  retries then succeed on the same gateway; every payment credited once, books balanced.
- The TV system down for a while: events wait; when it is back the backlog drains, in order.
"""
from __future__ import annotations

import asyncio
import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest

from billing_core import cards as card_cases
from billing_core import subscriptions
from billing_core.db import ledger_store
from billing_core.db.migrate import upgrade
from billing_core.lockouts import LockoutsUnavailable
from config.settings import load_settings
from gateway.app import create_app
from gateway.keys import BILLING, LOCKOUTS
from tests.integration.test_ussd_flows import Phone
from tests.peers.fake_tv import FakeTv

pytestmark = pytest.mark.resilience
CONFIRMATION = "/mobile-money/daraja/c2b/confirmation"
ACK = {"ResultCode": 0, "ResultDesc": "Success"}
CARD, MSISDN = "40000001", "+254712345678"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def confirmation(n: int, card: str = CARD) -> dict:
    return {"TransactionType": "Pay Bill", "TransID": f"PD{n:08d}", "TransTime": "20270115103000",
            "TransAmount": "10.00", "BusinessShortCode": "600638", "BillRefNumber": card, "InvoiceNumber": "",
            "OrgAccountBalance": "1.00", "ThirdPartyTransID": "", "MSISDN": "25470****149", "FirstName": "A",
            "MiddleName": "", "LastName": "B"}


async def books_balance(billing) -> set[int]:
    totals: dict[str, int] = {}
    for _account, unit, balance in await billing.db.read(ledger_store.trial_balance):
        totals[unit] = totals.get(unit, 0) + balance
    return set(totals.values()) or {0}


# ---- Redis ------------------------------------------------------------------------------

class PrivateRedis:
    def __init__(self) -> None:
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                                      "--save", "", "--appendonly", "no"], stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise AssertionError("redis-server did not start")

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()


@pytest.fixture
def private_redis():
    redis = PrivateRedis()
    redis.start()
    yield redis
    redis.kill()


async def test_redis_killed_mid_load(aiohttp_client, make_settings, private_redis) -> None:
    settings = make_settings(**{"redis.url": f"redis://127.0.0.1:{private_redis.port}/0",
                                "ussd.steps_per_minute": 10_000, "security.pin_key": "r" * 32})
    client = await aiohttp_client(create_app(settings, workers=False))
    billing = client.app[BILLING]
    await subscriptions.add_package(billing, "BASIC", "Basic", 30, 1000, ("101",))
    await subscriptions.add_subscriber(billing, CARD, MSISDN, package="BASIC")
    assert "1. Balance" in await Phone(client).dial()

    async def confirm(n: int) -> int:
        async with client.post(CONFIRMATION, json=confirmation(n)) as resp:
            return resp.status

    assert await asyncio.gather(*(confirm(n) for n in range(20))) == [200] * 20
    private_redis.kill()
    screens = await asyncio.gather(*(Phone(client).dial() for _ in range(10)))
    assert all(s.startswith("END ") and "Service busy" in s for s in screens)
    assert await asyncio.gather(*(confirm(n) for n in range(20, 40))) == [200] * 20  # money needs no Redis
    with pytest.raises(LockoutsUnavailable):
        await card_cases.redeem_card(billing, client.app[LOCKOUTS], pin="1" * 14, msisdn=MSISDN, channel="ussd",
                                     card=CARD)
    private_redis.start()  # back on the same port: no gateway restart needed
    for _ in range(50):
        screen = await Phone(client).dial()
        if "1. Balance" in screen:
            break
        await asyncio.sleep(0.1)
    assert "1. Balance" in screen
    view = await subscriptions.show_subscriber(billing, CARD)
    assert view.wallet_tvu == 400 and await books_balance(billing) == {0}


# ---- PostgreSQL -------------------------------------------------------------------------

class PrivatePostgres:
    """A throwaway cluster run as the postgres user on a free port."""

    def __init__(self) -> None:
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
        if not bins:
            pytest.fail("PostgreSQL server binaries are not installed (.ci/run installs them)")
        self.bin = os.path.dirname(bins[-1])
        self.dir = tempfile.mkdtemp(prefix="tvtopup-pg-")
        os.chmod(self.dir, 0o755)
        shutil.chown(self.dir, "postgres", "postgres")
        self.data = os.path.join(self.dir, "data")
        self.port = free_port()
        self._as_postgres(f"{self.bin}/initdb", "-D", self.data, "-A", "trust", "-U", "postgres", "--no-sync")
        self.url = f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    def _as_postgres(self, *argv: str) -> None:
        cmd = ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else list(argv)
        subprocess.run(cmd, check=True, capture_output=True, timeout=60)

    def ctl(self, *action: str) -> None:
        opts = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._as_postgres(f"{self.bin}/pg_ctl", "-D", self.data, "-o", opts, "-w", "-l",
                          os.path.join(self.dir, "log"), *action)

    def remove(self) -> None:
        try:
            self.ctl("-m", "immediate", "stop")
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def private_postgres():
    pg = PrivatePostgres()
    pg.ctl("start")
    yield pg
    pg.remove()


async def test_postgresql_restarted_mid_load(aiohttp_client, private_postgres) -> None:
    await upgrade(private_postgres.url)
    settings = load_settings(environ={}).replace(**{"database.url": private_postgres.url})
    client = await aiohttp_client(create_app(settings, workers=False))
    billing = client.app[BILLING]
    await subscriptions.add_package(billing, "BASIC", "Basic", 30, 100_000, ("101",))
    await subscriptions.add_subscriber(billing, CARD, MSISDN, package="BASIC")
    statuses: list[int] = []
    pending = list(range(300))

    async def sender() -> None:
        while pending:
            n = pending.pop()
            for _ in range(300):
                async with client.post(CONFIRMATION, json=confirmation(n)) as resp:
                    statuses.append(resp.status)
                    if resp.status == 200 and await resp.json() == ACK:
                        break
                await asyncio.sleep(0.1)
            else:
                raise AssertionError(f"never acknowledged after the restart: {statuses[-5:]}")

    async def restart() -> None:
        while len(statuses) < 60:
            await asyncio.sleep(0.01)
        await asyncio.to_thread(private_postgres.ctl, "-m", "fast", "restart")

    await asyncio.gather(restart(), *(sender() for _ in range(8)))
    assert set(statuses) <= {200, 503}, sorted(set(statuses))
    assert 503 in statuses  # the restart was seen, and answered cleanly
    view = await subscriptions.show_subscriber(billing, CARD)
    assert view.wallet_tvu == 300 * 10
    assert await books_balance(billing) == {0}


# ---- the TV system ----------------------------------------------------------------------

async def test_tv_system_down_then_the_backlog_drains(aiohttp_client, aiohttp_server, make_settings) -> None:
    fake = FakeTv(secret="tv-secret")
    fake.fail_first = 10**6  # every request fails until told otherwise
    tv = await aiohttp_server(fake.app)
    settings = make_settings(**{"tv.adapter": "webhook", "tv.url": str(tv.make_url("/hook")),
                                "tv.secret": "tv-secret", "tv.retry_first_s": 1, "tv.retry_max_s": 2,
                                "outbox.poll_s": 0.2})
    client = await aiohttp_client(create_app(settings, workers=True))
    billing = client.app[BILLING]
    await subscriptions.add_package(billing, "BASIC", "Basic", 30, 10, ("101",))
    cards = [f"5000{i:04d}" for i in range(20)]
    for card in cards:
        await subscriptions.add_subscriber(billing, card, MSISDN, package="BASIC")
    for n, card in enumerate(cards):  # each payment renews: a grant and a notice per card
        async with client.post(CONFIRMATION, json=confirmation(1000 + n, card)) as resp:
            assert resp.status == 200
    await asyncio.sleep(2)
    down_requests = fake.requests
    assert fake.ids() == [] and down_requests >= len(cards)  # down: nothing delivered, retried
    fake.fail_first = 0
    await fake.wait_for(lambda f: len(f.ids()) >= 2 * len(cards), 30)
    for card in cards:
        assert [b["event"] for b in fake.received if b["card"] == card] == ["entitlement.grant", "osd.message"]
