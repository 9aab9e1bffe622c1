"""Shared fixtures: a fresh database per test on SQLite and on PostgreSQL.

PostgreSQL is the server of ../shared/peers.md (127.0.0.1:5432, trust auth);
``TVTOPUP_TEST_PG`` names another admin URL. Each test gets its own uniquely
named database, dropped afterwards. The migrations run once per test session, into a
template (a SQLite file, a PostgreSQL template database); each test's database is a
copy of it, which takes a few milliseconds instead of half a second of Alembic.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import shutil
import sqlite3
import uuid
from pathlib import Path

import asyncpg
import pytest

from billing_core.context import Billing
from billing_core.db.database import open_database
from billing_core.db.migrate import upgrade
from billing_core.money import Rates

PG_ADMIN = os.environ.get("TVTOPUP_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
ROOT = Path(__file__).resolve().parent.parent


class FakeClock:
    """A clock the test moves by hand (epoch seconds)."""

    def __init__(self, start: int = 1_800_000_000):
        self.now = start

    def __call__(self) -> int:
        return self.now

    def advance(self, seconds: int) -> None:
        self.now += seconds


async def create_pg_database(template: str | None = None) -> str:
    name = f"tvtopup_test_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(PG_ADMIN)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    finally:
        await conn.close()
    base = PG_ADMIN.rsplit("/", 1)[0]
    return f"{base}/{name}".replace("postgresql://", "postgresql+asyncpg://", 1)


async def drop_pg_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    conn = await asyncpg.connect(PG_ADMIN)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def _run(coro):
    """Run ``coro`` to completion on its own loop in a thread (callable inside a running loop)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


_PG_TEMPLATE: dict[str, str] = {}  # the session's migrated template database, made on first use


@contextlib.asynccontextmanager
async def migrated_pg_database():
    if "name" not in _PG_TEMPLATE:
        template = await create_pg_database()
        await upgrade(template)
        _PG_TEMPLATE["name"] = template.rsplit("/", 1)[1]
    url = await create_pg_database(template=_PG_TEMPLATE["name"])
    try:
        yield url
    finally:
        await drop_pg_database(url)


@pytest.fixture(scope="session", autouse=True)
def _drop_pg_template():
    yield
    if "name" in _PG_TEMPLATE:
        base = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
        _run(drop_pg_database(f"{base}/{_PG_TEMPLATE.pop('name')}"))


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    """A migrated SQLite file, checkpointed so that the file alone is the whole database."""
    path = tmp_path_factory.mktemp("template") / "tvtopup.db"
    _run(upgrade(f"sqlite+aiosqlite:///{path}"))
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path


@pytest.fixture(params=["sqlite", "postgresql"])
async def db_url(request, tmp_path):
    """A migrated, empty database URL, once per backend."""
    if request.param == "sqlite":
        path = tmp_path / "tvtopup.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    async with migrated_pg_database() as url:
        yield url


@pytest.fixture
async def pg_url():
    """A migrated, empty PostgreSQL database URL (tests of what only PostgreSQL does)."""
    async with migrated_pg_database() as url:
        yield url


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
async def billing(db_url, clock):
    db = open_database(db_url)
    yield Billing(db=db, rates=Rates({"KES": 100, "UGX": 50}), clock=clock)
    await db.close()


@pytest.fixture
def make_settings(db_url):
    """Settings on the test database, with ``section.key`` overrides."""
    from config.settings import load_settings

    def make(**overrides):
        return load_settings(environ={}).replace(**{"database.url": db_url, **overrides})

    return make


@pytest.fixture
def gateway_client(aiohttp_client, make_settings, clock):
    """Start the real app (``create_app``) on the test database; returns a test client.

    ``await gateway_client(workers=False, **{"mpesa.callback_token": "t"})``; the
    client's ``app`` has the billing context at ``app[BILLING]``.
    """
    from gateway.app import create_app

    async def start(workers: bool = False, **overrides):
        return await aiohttp_client(create_app(make_settings(**overrides), clock=clock, workers=workers))

    return start
