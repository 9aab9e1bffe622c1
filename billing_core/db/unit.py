"""Writes a transaction defers to its end, so it holds its hottest locks shortest.

A use case's postings, balance moves and outbox events are collected while it
runs and written at its end, each kind in one batched statement: balance rows (the
ones every payment touches) are locked only for the last moments before COMMIT,
in one global order, and a payment that renews moves each balance row once.
"""
from __future__ import annotations

from typing import Any, Callable

from sqlalchemy import Connection

_KEY = "tvtopup.deferred"
_SIGNALS = "tvtopup.signals"

# Called in order at the end of every transaction that deferred something.
FLUSHERS: list[Callable[[Connection, dict], None]] = []
# signal -> the PostgreSQL channel on which a process with no listener of its own tells others
CHANNELS: dict[str, str] = {}


def deferred(conn: Connection) -> dict:
    """This transaction's deferred writes (kind -> what the flusher of that kind needs)."""
    return conn.info.setdefault(_KEY, {})


def flush(conn: Connection) -> None:
    """Write what is deferred now (before reading it back in the same transaction)."""
    pending = conn.info.pop(_KEY, None)
    if pending:
        for flusher in FLUSHERS:
            flusher(conn, pending)


def signal(conn: Connection, name: str) -> None:
    """Tell the commit listeners of ``name`` once this transaction has committed (see
    :meth:`billing_core.db.database.Database.add_commit_listener`)."""
    conn.info.setdefault(_SIGNALS, set()).add(name)


def with_signals(conn: Connection, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, frozenset[str]]:
    """``fn(conn, …)`` and the signals it raised (what a runner hands its listeners after COMMIT)."""
    conn.info.pop(_SIGNALS, None)
    try:
        return fn(conn, *args, **kwargs), frozenset(conn.info.get(_SIGNALS, ()))
    finally:
        conn.info.pop(_SIGNALS, None)


def run(conn: Connection, fn: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
    """``fn(conn, …)`` as the body of a transaction, its deferred writes flushed at the end."""
    conn.info.pop(_KEY, None)  # the DBAPI connection is reused: start clean
    try:
        result = fn(conn, *args, **kwargs)
        flush(conn)
        return result
    finally:
        conn.info.pop(_KEY, None)
