"""The few statements whose spelling differs between SQLite and PostgreSQL."""
from __future__ import annotations

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import NullType


def insert_ignore(conn: Connection | str, table: Table, *index_elements: str):
    """``INSERT … ON CONFLICT DO NOTHING`` for a connection's (or a dialect name's) dialect."""
    name = conn if isinstance(conn, str) else conn.dialect.name
    stmt = postgresql.insert(table) if name == "postgresql" else sqlite.insert(table)
    return stmt.on_conflict_do_nothing(index_elements=list(index_elements) or None)



class exact_sum(FunctionElement):
    """``SUM`` of an integer column that never overflows and never turns into a float.

    PostgreSQL sums ``CAST(x AS NUMERIC)``; SQLite (whose ``SUM`` raises "integer
    overflow" past 64 bits, and whose ``TOTAL`` is a float) calls ``tvtopup_exact_sum``,
    an aggregate in Python ints registered on every connection (:func:`register_sqlite`)
    that returns an integer, or its decimal text beyond 64 bits. NULL over no rows, like
    ``SUM``. Read the value with ``int()``.
    """

    name = "exact_sum"
    inherit_cache = True
    type = NullType()


@compiles(exact_sum)
def _exact_sum_default(element, compiler, **kw) -> str:
    return f"sum({compiler.process(element.clauses, **kw)})"


@compiles(exact_sum, "postgresql")
def _exact_sum_postgresql(element, compiler, **kw) -> str:
    return f"sum(CAST({compiler.process(element.clauses, **kw)} AS NUMERIC))"


@compiles(exact_sum, "sqlite")
def _exact_sum_sqlite(element, compiler, **kw) -> str:
    return f"tvtopup_exact_sum({compiler.process(element.clauses, **kw)})"


_INT64_MAX = 2**63 - 1


class _ExactSum:
    """The SQLite aggregate behind :class:`exact_sum`."""

    def __init__(self) -> None:
        self.total: int | None = None

    def step(self, value: object) -> None:
        if value is not None:
            self.total = (self.total or 0) + int(value)  # type: ignore[call-overload]

    def finalize(self) -> int | str | None:
        if self.total is None or -_INT64_MAX - 1 <= self.total <= _INT64_MAX:
            return self.total
        return str(self.total)


def register_sqlite(dbapi_conn) -> None:
    """Register the functions of this module on a new ``sqlite3`` connection."""
    dbapi_conn.create_aggregate("tvtopup_exact_sum", 1, _ExactSum)
