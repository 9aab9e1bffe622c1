"""Throwaway PostgreSQL databases for the benchmarks.

``TVTOPUP_BENCH_PG`` names the admin URL (default: the local server of ../shared/peers.md).
"""
from __future__ import annotations

import os
import time

import asyncpg

ADMIN = os.environ.get("TVTOPUP_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


async def create(label: str) -> str:
    """A new empty database; returns its plain ``postgresql://`` DSN (what asyncpg takes)."""
    name = f"tvtopup_bench_{label}_{os.getpid()}_{int(time.time())}"
    conn = await asyncpg.connect(ADMIN)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return ADMIN.rsplit("/", 1)[0] + "/" + name


async def drop(dsn: str) -> None:
    """Drop the database a DSN or URL of :func:`create` names."""
    conn = await asyncpg.connect(ADMIN)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{dsn.rsplit("/", 1)[1]}" WITH (FORCE)')
    finally:
        await conn.close()


def sqlalchemy_url(dsn: str) -> str:
    """The same database as the gateway's settings name it."""
    return dsn.replace("postgresql://", "postgresql+asyncpg://", 1)
