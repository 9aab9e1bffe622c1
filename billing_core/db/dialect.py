"""The few statements whose spelling differs between SQLite and PostgreSQL.

Statements on the hot path are built once (:func:`per_dialect`): building a
SQLAlchemy statement and its cache key costs several times more than running it.
"""
from __future__ import annotations

from typing import Callable

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite


def per_dialect(build: Callable[[str], object]) -> Callable[[Connection], object]:
    """``build(dialect_name)`` once per dialect; returns ``stmt_for(conn)``."""
    built: dict[str, object] = {}

    def stmt_for(conn: Connection):
        name = conn.dialect.name
        stmt = built.get(name)
        if stmt is None:
            stmt = built[name] = build(name)
        return stmt

    return stmt_for


def insert_ignore(conn: Connection | str, table: Table, *index_elements: str):
    """``INSERT … ON CONFLICT DO NOTHING`` for a connection's (or a dialect name's) dialect."""
    name = conn if isinstance(conn, str) else conn.dialect.name
    stmt = postgresql.insert(table) if name == "postgresql" else sqlite.insert(table)
    return stmt.on_conflict_do_nothing(index_elements=list(index_elements) or None)


def for_update(conn: Connection, stmt):
    """Lock the selected rows on PostgreSQL; SQLite already holds the write lock (BEGIN IMMEDIATE)."""
    return stmt.with_for_update() if conn.dialect.name == "postgresql" else stmt
