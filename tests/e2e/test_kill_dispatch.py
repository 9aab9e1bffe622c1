"""kill -9 of ``tvtopup serve`` in the middle of delivering to a slow webhook loses nothing.

The gateway runs as a real process on a SQLite file, with ``tv.adapter = webhook``
pointing at a receiver this test serves. Renewals are written before it starts;
the process is killed with SIGKILL while deliveries are in flight, then started
again: every TV event id arrives (at least once), each card's events first arrive
in outbox order, and the outbox ends with everything delivered.
"""
from __future__ import annotations

import asyncio
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time

from billing_core import ledger, subscriptions
from billing_core.context import Billing
from billing_core.db.database import open_database
from billing_core.db.migrate import upgrade
from billing_core.money import Rates
from tests.peers.fake_tv import FakeTv

SECRET = "kill-test-secret"
CARDS = [f"7000000{n}" for n in range(8)]
RENEWALS = 3  # per card: 3 grants and 3 on-screen messages


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def seed(url: str) -> None:
    await upgrade(url)
    db = open_database(url)
    billing = Billing(db=db, rates=Rates({"KES": 100}))
    try:
        await subscriptions.add_package(billing, "BASIC", "Basic", 30, 100, ("101",))
        for card in CARDS:
            await subscriptions.add_subscriber(billing, card, "+254712345678", package="BASIC")
            await subscriptions.credit_tvu(billing, card, 100 * RENEWALS, source=ledger.TVU_OPENING, ref=card,
                                           kind="opening")
            for _ in range(RENEWALS - 1):
                await subscriptions.renew(billing, card)
    finally:
        await db.close()


def tv_events(path) -> dict[str, list[str]]:
    """card -> TV event ids in outbox order."""
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT card, event_id FROM outbox WHERE kind != 'sms.send' ORDER BY id").fetchall()
    out: dict[str, list[str]] = {}
    for card, event_id in rows:
        out.setdefault(card, []).append(event_id)
    return out


def outbox_state(path) -> list[tuple[str, str | None]]:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT status, claimed_by FROM outbox WHERE kind != 'sms.send'").fetchall()


def start(url: str, hook: str, port: int, cwd) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TVTOPUP_")}
    env.update({"TVTOPUP_DATABASE_URL": url, "TVTOPUP_TV__ADAPTER": "webhook", "TVTOPUP_TV__URL": hook,
                "TVTOPUP_TV__SECRET": SECRET, "TVTOPUP_TV__TIMEOUT_S": "5", "TVTOPUP_TV__RETRY_FIRST_S": "1",
                "TVTOPUP_OUTBOX__LEASE_S": "3", "TVTOPUP_OUTBOX__POLL_S": "0.2", "TVTOPUP_LOGGING__LEVEL": "WARNING"})
    return subprocess.Popen([sys.executable, "-m", "gateway", "serve", "--port", str(port)], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def first_arrivals(ids: list[str]) -> list[str]:
    seen: dict[str, None] = {}
    for event_id in ids:
        seen.setdefault(event_id, None)
    return list(seen)


async def test_kill_9_mid_dispatch_loses_no_event(tmp_path, aiohttp_server):
    path = tmp_path / "tvtopup.db"
    url = f"sqlite+aiosqlite:///{path}"
    await seed(url)
    expected = tv_events(path)
    assert sum(map(len, expected.values())) == len(CARDS) * RENEWALS * 2

    fake = FakeTv(secret=SECRET)
    fake.delay_s = 0.4  # a slow receiver: the kill lands while requests are in flight
    server = await aiohttp_server(fake.app)
    hook = str(server.make_url("/hook"))

    first = start(url, hook, free_port(), tmp_path)
    try:
        await fake.wait_for(lambda f: len(f.received) >= 10, 60)
        first.send_signal(signal.SIGKILL)
        assert first.wait(timeout=10) == -signal.SIGKILL
    finally:
        if first.poll() is None:
            first.kill()
    left = outbox_state(path)
    assert any(status == "pending" and holder for status, holder in left), "killed before anything was in flight"
    arrived_before = len(set(fake.ids()))
    assert arrived_before < sum(map(len, expected.values()))

    fake.delay_s = 0.02
    restarted_at = time.monotonic()
    second = start(url, hook, free_port(), tmp_path)
    try:
        everything = {event_id for ids in expected.values() for event_id in ids}
        await fake.wait_for(lambda f: everything <= set(f.ids()), 60)
        resumed_s = time.monotonic() - restarted_at
        second.send_signal(signal.SIGTERM)
        output = second.communicate(timeout=20)[0]
        assert second.returncode == 0, output
    finally:
        if second.poll() is None:
            second.kill()

    for card, ids in expected.items():
        assert first_arrivals(fake.ids(card)) == ids  # each card in order, whatever was sent twice
    assert set(fake.ids()) == everything  # nothing missing, nothing invented
    assert fake.bad_signatures == 0
    assert resumed_s < 30  # the contract: pending events resume within 30 s of a restart
    assert {status for status, _ in outbox_state(path)} == {"delivered"}
    await asyncio.sleep(0)
