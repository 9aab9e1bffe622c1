"""PostgreSQL under faults: a retried serialization failure, bounded waits, killed connections.

Each conflict is real: a second connection (raw asyncpg, the test's own) holds a row or
a table lock, or commits under a transaction's feet; ``pg_terminate_backend`` kills the
gateway's own backends (``application_name = 'tvtopup'``).
"""
from __future__ import annotations

import asyncio
import json
import time

import asyncpg
import pytest
from sqlalchemy import text

from billing_core import subscriptions
from billing_core.db.database import DatabaseUnavailable, open_database
from gateway.keys import BILLING

CARD, PHONE = "10000001", "+254712345678"
CONFIRMATION = "/mobile-money/mpesa/c2b/confirmation"


@pytest.fixture
def db_url(pg_url):
    """The gateway of these tests runs on PostgreSQL only."""
    return pg_url


def raw(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def blocked_on_lock(admin: asyncpg.Connection, count: int = 1, timeout_s: float = 5.0) -> None:
    """Wait until ``count`` of the gateway's backends wait for a lock."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        await admin.execute("SELECT pg_stat_clear_snapshot()")  # inside a transaction the view is cached
        n = await admin.fetchval("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'tvtopup' "
                                 "AND wait_event_type = 'Lock' AND datname = current_database()")
        if n >= count:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"fewer than {count} backends waiting for a lock")


# ---- serialization failures are retried --------------------------------------------------------

async def test_a_serialization_failure_is_retried_and_then_commits(pg_url):
    """The first attempt updates a row another transaction changed after its snapshot
    (SQLSTATE 40001); the retry, on a fresh snapshot, commits once."""
    db = open_database(pg_url)
    other = await asyncpg.connect(raw(pg_url))
    try:
        await other.execute("CREATE TABLE counters (k int PRIMARY KEY, v int NOT NULL); "
                            "INSERT INTO counters VALUES (1, 0)")
        attempts: list[int] = []

        def bump(conn):
            conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            attempts.append(conn.execute(text("SELECT v FROM counters WHERE k = 1")).scalar_one())  # snapshot
            conn.execute(text("UPDATE counters SET v = v + 1 WHERE k = 1"))
            return conn.execute(text("SELECT v FROM counters WHERE k = 1")).scalar_one()

        tx = other.transaction()
        await tx.start()
        await other.execute("UPDATE counters SET v = v + 100 WHERE k = 1")
        writing = asyncio.create_task(db.write(bump))
        await blocked_on_lock(other)
        await tx.commit()  # the waiting UPDATE now sees a row changed after its snapshot: 40001
        assert await asyncio.wait_for(writing, 10) == 101
        assert attempts == [0, 100]
        assert await other.fetchval("SELECT v FROM counters WHERE k = 1") == 101
    finally:
        await other.close()
        await db.close()


async def test_retries_are_bounded(pg_url):
    """A transaction that always fails to serialize is tried a bounded number of times and
    then fails with the database's own error (not an UnboundLocalError)."""
    from billing_core.db import database

    db = open_database(pg_url)
    calls = []

    def always_conflicts(conn):
        calls.append(1)
        conn.exec_driver_sql("DO $$ BEGIN RAISE EXCEPTION 'conflict' USING ERRCODE = '40001'; END $$")

    try:
        started = time.monotonic()
        try:
            await db.write(always_conflicts)
        except Exception as exc:  # noqa: BLE001 - the type is what is asserted
            failure = exc
        took_s = time.monotonic() - started
    finally:
        await db.close()
    assert database._sqlstate(failure) == "40001", repr(failure)
    assert len(calls) == database.PG_RETRIES_MAX
    assert took_s < 2


# ---- bounded waits: a request is answered 503 in time, nothing half-written --------------------

async def confirm(client, txid: str):
    doc = {"TransactionType": "Pay Bill", "TransID": txid, "TransTime": "20270115103000", "TransAmount": "500.00",
           "BusinessShortCode": "600638", "BillRefNumber": CARD, "InvoiceNumber": "", "OrgAccountBalance": "",
           "ThirdPartyTransID": "", "MSISDN": "254712345678", "FirstName": "John", "MiddleName": "", "LastName": ""}
    started = time.monotonic()
    resp = await client.post(CONFIRMATION, data=json.dumps(doc), headers={"Content-Type": "application/json"})
    return resp.status, await resp.json(), time.monotonic() - started


async def payments_of(url: str) -> int:
    conn = await asyncpg.connect(raw(url))
    try:
        return await conn.fetchval("SELECT count(*) FROM payments") + await conn.fetchval(
            "SELECT count(*) FROM journal_entries")
    finally:
        await conn.close()


async def test_a_lock_held_elsewhere_gives_503_within_the_statement_timeout(gateway_client, pg_url):
    client = await gateway_client(**{"database.statement_timeout_ms": 1000})
    billing = client.app[BILLING]
    await subscriptions.add_package(billing, "BASIC", "Basic", 30, 300, ("p1",))
    await subscriptions.add_subscriber(billing, CARD, PHONE, package="BASIC")
    before = await payments_of(pg_url)
    other = await asyncpg.connect(raw(pg_url))
    try:
        async with other.transaction():
            await other.execute("LOCK TABLE payments IN EXCLUSIVE MODE")
            status, body, took_s = await confirm(client, "RKTQDM7W01")
    finally:
        await other.close()
    assert status == 503 and "database_unavailable" in json.dumps(body), body
    assert took_s < 3, took_s
    assert await payments_of(pg_url) == before
    status, _, _ = await confirm(client, "RKTQDM7W01")  # the provider's retry goes through
    assert status == 200


async def test_an_exhausted_pool_refuses_within_the_acquire_timeout(pg_url):
    db = open_database(pg_url, pool_size=1, acquire_timeout_s=0.5, statement_timeout_ms=10_000)
    other = await asyncpg.connect(raw(pg_url))
    try:
        await other.execute("CREATE TABLE counters (k int PRIMARY KEY, v int NOT NULL); "
                            "INSERT INTO counters VALUES (1, 0)")

        def bump(conn):
            conn.execute(text("UPDATE counters SET v = v + 1 WHERE k = 1"))

        async with other.transaction():
            await other.execute("SELECT v FROM counters WHERE k = 1 FOR UPDATE")
            hung = [asyncio.create_task(db.write(bump)) for _ in range(2)]  # pool_size + max_overflow
            await blocked_on_lock(other, 2)
            started = time.monotonic()
            try:
                await db.write(bump)
                raise AssertionError("a third transaction got a connection")
            except DatabaseUnavailable:
                took_s = time.monotonic() - started
        await asyncio.wait_for(asyncio.gather(*hung), 10)  # the lock is gone: they go through
        assert await other.fetchval("SELECT v FROM counters WHERE k = 1") == 2
    finally:
        await other.close()
        await db.close()
    assert took_s < 1.5, took_s


async def test_killed_connections_give_503_at_once_and_the_next_request_goes_through(gateway_client, pg_url):
    client = await gateway_client()
    billing = client.app[BILLING]
    await subscriptions.add_package(billing, "BASIC", "Basic", 30, 300, ("p1",))
    await subscriptions.add_subscriber(billing, CARD, PHONE, package="BASIC")
    before = await payments_of(pg_url)
    other = await asyncpg.connect(raw(pg_url))
    try:
        async with other.transaction():
            await other.execute("LOCK TABLE payments IN EXCLUSIVE MODE")
            request = asyncio.create_task(confirm(client, "RKTQDM7W02"))
            await blocked_on_lock(other)
            await other.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                "WHERE application_name = 'tvtopup' AND datname = current_database()")
            status, body, took_s = await asyncio.wait_for(request, 10)
    finally:
        await other.close()
    assert status == 503 and "database_unavailable" in json.dumps(body), body
    assert took_s < 3, took_s
    assert await payments_of(pg_url) == before
    status, _, _ = await confirm(client, "RKTQDM7W02")
    assert status == 200


# ---- LISTEN/NOTIFY: events written where no dispatcher runs wake the others -------------------

def enqueue_one(conn):
    from billing_core.db import outbox_store
    from tv_notify import events

    return outbox_store.enqueue(conn, [events.osd(CARD, "hello", "en")], 0)


async def test_listen_hears_other_processes_and_comes_back_after_being_killed(pg_url, monkeypatch):
    """A database with no listener of its own (a CLI command) NOTIFYs what it enqueued."""
    from billing_core.db import database, outbox_store

    monkeypatch.setattr(database, "LISTEN_RETRY_S", 0.2)
    db, writer = open_database(pg_url), open_database(pg_url)
    heard = asyncio.Event()
    admin = await asyncpg.connect(raw(pg_url))

    async def notified() -> None:
        heard.clear()
        await writer.write(enqueue_one)
        await asyncio.wait_for(heard.wait(), 3)

    try:
        async with db.listen(outbox_store.CHANNEL, heard.set):
            await asyncio.wait_for(heard.wait(), 3)  # told once on listening: what came before
            await notified()
            killed = await admin.fetchval("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                          "WHERE query LIKE 'LISTEN%' AND datname = current_database()")
            assert killed == 1
            await asyncio.sleep(0.1)
            await notified()  # heard on the new connection (or its first call after connecting)
            await asyncio.sleep(0.5)
            await notified()
    finally:
        await admin.close()
        await writer.close()
        await db.close()


async def test_a_process_whose_own_dispatcher_listens_sends_no_notify(pg_url):
    """NOTIFY serializes the server's notifying commits: a gateway process, whose own
    dispatcher hears its commits, does not send one."""
    from billing_core.db import outbox_store

    db = open_database(pg_url)
    woken: list[int] = []
    db.add_commit_listener(lambda: woken.append(1), signal=outbox_store.ENQUEUED)
    spy = await asyncpg.connect(raw(pg_url))
    notices: list[str] = []
    await spy.add_listener(outbox_store.CHANNEL, lambda *args: notices.append(args[2]))
    try:
        await db.write(enqueue_one)
        await asyncio.sleep(0.3)
        assert (woken, notices) == ([1], [])
        await db.write(lambda conn: None)  # a transaction that enqueued nothing wakes nobody
        assert woken == [1]
    finally:
        await spy.close()
        await db.close()


async def test_requests_beyond_a_hung_pool_get_503_within_the_acquire_timeout(gateway_client, pg_url):
    """Both connections of the pool wait on a lock held elsewhere: the next request is
    refused when acquire_timeout_s runs out, writes nothing, and its retry goes through."""
    client = await gateway_client(**{"database.pool_size": 1, "database.acquire_timeout_s": 0.5,
                                     "database.statement_timeout_ms": 20_000})
    billing = client.app[BILLING]
    await subscriptions.add_package(billing, "BASIC", "Basic", 30, 300, ("p1",))
    await subscriptions.add_subscriber(billing, CARD, PHONE, package="BASIC")
    before = await payments_of(pg_url)
    other = await asyncpg.connect(raw(pg_url))
    try:
        tx = other.transaction()
        await tx.start()
        await other.execute("LOCK TABLE payments IN EXCLUSIVE MODE")
        hung = [asyncio.create_task(confirm(client, f"RKTQDM7W1{n}")) for n in range(2)]
        await blocked_on_lock(other, 2)
        status, body, took_s = await confirm(client, "RKTQDM7W20")
        assert await payments_of(pg_url) == before
        await tx.commit()
        assert [s for s, _, _ in await asyncio.wait_for(asyncio.gather(*hung), 20)] == [200, 200]
    finally:
        await other.close()
    assert status == 503 and "database_unavailable" in json.dumps(body), body
    assert took_s < 1.5, took_s
    assert (await confirm(client, "RKTQDM7W20"))[0] == 200
