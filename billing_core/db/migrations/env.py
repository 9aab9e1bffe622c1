"""Alembic environment: runs migrations over the async drivers (aiosqlite, asyncpg).

On PostgreSQL an advisory lock makes concurrent starts (several gateway processes
or machines) apply each migration once, one after the other.
"""
from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import Connection, pool, text
from sqlalchemy.ext.asyncio import create_async_engine

from billing_core.db.database import async_url
from billing_core.db.schema import metadata

MIGRATION_LOCK_ID = 0x7476746F  # "tvto"


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True,
                      compare_type=True)
    if connection.dialect.name == "postgresql":
        connection.execute(text(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_ID})"))
    with context.begin_transaction():
        context.run_migrations()


async def _run_async() -> None:
    url = async_url(context.config.get_main_option("sqlalchemy.url"))
    engine = create_async_engine(url, poolclass=pool.NullPool)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
            await connection.commit()
    finally:
        await engine.dispose()


if context.is_offline_mode():
    context.configure(url=context.config.get_main_option("sqlalchemy.url"), target_metadata=metadata,
                      literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_run_async())
