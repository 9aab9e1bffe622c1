"""The few statements whose spelling differs between SQLite and PostgreSQL."""
from __future__ import annotations

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite


def insert_ignore(conn: Connection, table: Table, *index_elements: str):
    """``INSERT … ON CONFLICT DO NOTHING`` for the connection's dialect."""
    stmt = (postgresql.insert(table) if conn.dialect.name == "postgresql" else sqlite.insert(table))
    return stmt.on_conflict_do_nothing(index_elements=list(index_elements) or None)


def for_update(conn: Connection, stmt):
    """Lock the selected rows on PostgreSQL; SQLite already holds the write lock (BEGIN IMMEDIATE)."""
    return stmt.with_for_update() if conn.dialect.name == "postgresql" else stmt
