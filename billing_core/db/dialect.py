"""The few statements whose spelling differs between SQLite and PostgreSQL."""
from __future__ import annotations

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite


def insert_ignore(conn: Connection | str, table: Table, *index_elements: str):
    """``INSERT … ON CONFLICT DO NOTHING`` for a connection's (or a dialect name's) dialect."""
    name = conn if isinstance(conn, str) else conn.dialect.name
    stmt = postgresql.insert(table) if name == "postgresql" else sqlite.insert(table)
    return stmt.on_conflict_do_nothing(index_elements=list(index_elements) or None)

