"""Shared fixtures: a fresh database per test on SQLite and on PostgreSQL.

PostgreSQL is the server of ../shared/peers.md (127.0.0.1:5432, trust auth);
``TVTOPUP_TEST_PG`` names another admin URL. Each test gets its own uniquely
named database, dropped afterwards.
"""
from __future__ import annotations

import contextlib
import os
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


async def create_pg_database() -> str:
    name = f"tvtopup_test_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(PG_ADMIN)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
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


@contextlib.asynccontextmanager
async def migrated_pg_database():
    url = await create_pg_database()
    try:
        await upgrade(url)
        yield url
    finally:
        await drop_pg_database(url)


@pytest.fixture(params=["sqlite", "postgresql"])
async def db_url(request, tmp_path):
    """A migrated, empty database URL, once per backend."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'tvtopup.db'}"
        await upgrade(url)
        yield url
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
