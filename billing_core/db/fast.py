"""Hot-path statements: compiled once per dialect, run on the connection's DBAPI cursor.

A payment runs about ten statements. Through SQLAlchemy's execution machinery each
costs 30-70 us of Python before the driver sees it, which caps a process at a few
hundred payments a second; on the driver's cursor a statement costs 5-10 us. So
the statements a payment needs are written once as SQLAlchemy Core (one
definition for SQLite and PostgreSQL), compiled once per dialect, and executed on
the DBAPI cursor of the *same* SQLAlchemy connection, inside its transaction.
Driver errors are re-raised as SQLAlchemy's (``IntegrityError`` …) so callers see
one exception hierarchy.
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

from sqlalchemy import Connection, Table, bindparam, insert
from sqlalchemy.exc import DBAPIError


class Fast:
    """One statement; ``Fast(stmt)``, or ``Fast(build)`` where ``build(dialect_name)`` makes
    the statement for dialects that spell it differently."""

    def __init__(self, stmt: Any):
        self.stmt = stmt
        self._compiled: dict[str, tuple[str, tuple[str, ...] | None, dict[str, Any]]] = {}

    def _sql(self, conn: Connection) -> tuple[str, tuple[str, ...] | None, dict[str, Any]]:
        name = conn.dialect.name
        compiled = self._compiled.get(name)
        if compiled is None:
            stmt = self.stmt(name) if callable(self.stmt) and not hasattr(self.stmt, "compile") else self.stmt
            done = stmt.compile(dialect=conn.dialect)
            order = tuple(done.positiontup) if done.positiontup else None
            # literals in the statement (``slot == 0``) became anonymous parameters
            literals = {name: bind.value for name, bind in done.binds.items() if not bind.required}
            compiled = self._compiled[name] = (done.string, order, literals)
        return compiled

    @staticmethod
    def _args(order: tuple[str, ...] | None, literals: dict[str, Any],
              params: Mapping[str, Any]) -> Sequence[Any] | Mapping[str, Any]:
        if order is None:
            return {**literals, **params}
        return tuple(params[name] if name in params else literals[name] for name in order)

    def execute(self, conn: Connection, params: Mapping[str, Any]):
        sql, order, literals = self._sql(conn)
        cursor = conn.connection.dbapi_connection.cursor()
        try:
            cursor.execute(sql, self._args(order, literals, params))
        except conn.dialect.loaded_dbapi.Error as exc:
            raise DBAPIError.instance(sql, params, exc, conn.dialect.loaded_dbapi.Error) from exc
        return cursor

    def one(self, conn: Connection, params: Mapping[str, Any]) -> tuple | None:
        """The first row, or None."""
        return self.execute(conn, params).fetchone()

    def scalar(self, conn: Connection, params: Mapping[str, Any]) -> Any:
        row = self.one(conn, params)
        return None if row is None else row[0]

    def rowcount(self, conn: Connection, params: Mapping[str, Any]) -> int:
        return self.execute(conn, params).rowcount

    def many(self, conn: Connection, rows: Iterable[Mapping[str, Any]]) -> None:
        sql, order, literals = self._sql(conn)
        args = [self._args(order, literals, row) for row in rows]
        if not args:
            return
        cursor = conn.connection.dbapi_connection.cursor()
        try:
            cursor.executemany(sql, args)
        except conn.dialect.loaded_dbapi.Error as exc:
            raise DBAPIError.instance(sql, args, exc, conn.dialect.loaded_dbapi.Error) from exc


def insert_of(table: Table, *columns: str):
    """``INSERT INTO table (columns…) VALUES (:column…)`` with a bound parameter per column."""
    return insert(table).values({name: bindparam(name) for name in columns})
