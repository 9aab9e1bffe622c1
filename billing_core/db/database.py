"""One way to run a transaction, on SQLite and on PostgreSQL.

A use case hands :meth:`Database.write` (or :meth:`Database.read`) a plain
synchronous function ``fn(conn, *args)`` over a SQLAlchemy Core connection. The
whole function is one database transaction, and it costs one hop:

- SQLite: the function runs in the database's own writer thread, on the stdlib
  driver, inside ``BEGIN IMMEDIATE``: the write lock is taken up front, so two
  writers (threads or processes) queue on ``busy_timeout`` and never deadlock on
  a lock upgrade. Transactions queued together are committed together, each in
  its own savepoint (:mod:`billing_core.db.group_commit`): one fsync for many. Reads run on a small pool of reader threads (WAL lets them run
  beside the writer). The URL may name ``aiosqlite`` (the contract's default); the
  transaction still runs whole in one thread, which is what aiosqlite does per
  statement, minus a thread hop per statement.
- PostgreSQL: the function runs through ``AsyncConnection.run_sync`` over
  asyncpg, so each statement is one network round trip and no thread hop.
  Serialization failures and deadlocks are retried a bounded number of times.

A transaction may raise a *signal* (``unit.signal(conn, name)``, e.g. "events were
enqueued"); after it committed, the commit listeners of that signal run in the event
loop's thread (the outbox dispatcher wakes up at once rather than on its next poll).
A transaction that raised nothing wakes nobody: the dispatcher's own claims do not wake
it, so an idle gateway sleeps. On PostgreSQL a process with no listener of its own (a CLI
command) sends the signal's channel a ``NOTIFY``, which :meth:`Database.listen` hears in
the gateway processes; SQLite has no such channel, so there others rely on a timer.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, TypeVar

import asyncpg
from sqlalchemy import Connection, create_engine, event, text
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import TimeoutError as SATimeoutError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool

from billing_core.db import unit
from billing_core.db.dialect import register_sqlite
from billing_core.errors import DomainError
from billing_core.db.group_commit import GroupWriter

log = logging.getLogger(__name__)
T = TypeVar("T")
TxFn = Callable[..., T]

PG_RETRY_SQLSTATES = {"40001", "40P01"}  # serialization_failure, deadlock_detected
PG_RETRIES_MAX = 5  # attempts in all
PG_RETRY_PAUSE_S = 0.01
PG_TIMEOUT_SQLSTATES = {"57014", "55P03"}  # query_canceled (statement_timeout), lock_not_available
COMMAND_TIMEOUT_MARGIN_S = 0.5  # the driver gives up this long after the server should have
LISTEN_RETRY_S = 5.0


class Database:
    """A handle on the database: ``await db.write(fn, *args)``, ``await db.read(fn, *args)``."""

    dialect: str
    url: URL

    def __init__(self) -> None:
        self._listeners: dict[str, list[Callable[[], None]]] = {}

    def add_commit_listener(self, listener: Callable[[], None], *, signal: str) -> None:
        """Call ``listener()`` after each committed write that raised ``signal``."""
        self._listeners.setdefault(signal, []).append(listener)

    def _committed(self, signals: frozenset[str]) -> None:
        for name in signals:
            for listener in self._listeners.get(name, ()):
                listener()

    def listen(self, channel: str, callback: Callable[[], None]) -> contextlib.AbstractAsyncContextManager[None]:
        """While the context is open, call ``callback()`` when another process notifies ``channel``.

        Best effort (a lost connection is made again after a pause): a timer must back it.
        SQLite has no such channel: nothing is heard.
        """
        return contextlib.nullcontext()

    async def write(self, fn: TxFn[T], *args: Any, **kwargs: Any) -> T:
        """Run ``fn(conn, *args, **kwargs)`` as one read-write transaction."""
        raise NotImplementedError

    async def read(self, fn: TxFn[T], *args: Any, **kwargs: Any) -> T:
        """Run ``fn(conn, *args, **kwargs)`` as one read-only transaction."""
        raise NotImplementedError

    async def ping(self) -> None:
        await self.read(lambda conn: conn.execute(text("SELECT 1")).scalar_one())

    async def close(self) -> None:
        raise NotImplementedError


class SqliteDatabase(Database):
    dialect = "sqlite"

    def __init__(self, url: URL, *, synchronous: str = "FULL", busy_timeout_ms: int = 5000, readers: int = 4):
        super().__init__()
        self.url = url
        sync_url = url.set(drivername="sqlite+pysqlite")
        memory = url.database in (None, "", ":memory:")
        pragmas = (
            f"PRAGMA busy_timeout = {int(busy_timeout_ms)}",
            "PRAGMA foreign_keys = ON",
            f"PRAGMA synchronous = {synchronous}",
            "PRAGMA cache_size = -32768",  # 32 MiB of pages per connection
        ) + (() if memory else ("PRAGMA journal_mode = WAL",
                                 # the checkpointer thread copies the WAL back; the writer only
                                 # checkpoints itself if that falls far behind
                                 f"PRAGMA wal_autocheckpoint = {WAL_AUTOCHECKPOINT_PAGES}"))
        pool = {"poolclass": StaticPool} if memory else {"pool_size": 1, "max_overflow": 0}
        self._writer_engine = self._engine(sync_url, pragmas, "BEGIN IMMEDIATE", **pool)
        self._writer = GroupWriter(self._writer_engine)
        self._memory = memory
        if not memory:
            self._reader_engine = self._engine(sync_url, pragmas, "BEGIN", pool_size=readers, max_overflow=0)
            self._readers = ThreadPoolExecutor(readers, thread_name_prefix="sqlite-reader")
            self._checkpointer = _Checkpointer(url.database)

    @staticmethod
    def _engine(url: URL, pragmas: tuple[str, ...], begin: str, **pool: Any) -> Engine:
        engine = create_engine(url, connect_args={"check_same_thread": False}, **pool)

        @event.listens_for(engine, "connect")
        def _connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
            for pragma in pragmas:
                dbapi_conn.execute(pragma)
            register_sqlite(dbapi_conn)  # exact_sum: report sums that cannot overflow

        @event.listens_for(engine, "begin")
        def _begin(conn: Connection) -> None:
            conn.exec_driver_sql(begin)

        return engine

    @staticmethod
    def _run(engine: Engine, fn: TxFn[T], args: tuple[Any, ...], kwargs: dict[str, Any]) -> T:
        with engine.begin() as conn:
            return unit.run(conn, fn, args, kwargs)

    async def write(self, fn: TxFn[T], *args: Any, **kwargs: Any) -> T:
        result, signals = await self._writer.submit(unit.with_signals, (fn, *args), kwargs)
        self._committed(signals)
        return result

    async def read(self, fn: TxFn[T], *args: Any, **kwargs: Any) -> T:
        if self._memory:  # one connection: reads queue with the writes
            return await self._writer.submit(fn, args, kwargs)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._readers, self._run, self._reader_engine, fn, args, kwargs)

    async def close(self) -> None:
        await self._writer.call(self._writer_engine.dispose)
        await asyncio.to_thread(self._writer.stop)
        if not self._memory:
            await asyncio.to_thread(self._checkpointer.stop)
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(self._readers, self._reader_engine.dispose)
            self._readers.shutdown(wait=True)


WAL_AUTOCHECKPOINT_PAGES = 20_000
CHECKPOINT_EVERY_S = 0.5


class _Checkpointer:
    """Copies the WAL back into the database file off the write path.

    SQLite's automatic checkpoint runs inside the COMMIT that crosses the threshold,
    stalling every write queued behind it; a PASSIVE checkpoint from another
    connection never blocks the writer.
    """

    def __init__(self, path: str):
        self._path = path
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="sqlite-checkpointer", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        conn = sqlite3.connect(self._path, check_same_thread=False)
        try:
            while not self._stop.wait(CHECKPOINT_EVERY_S):
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
                except sqlite3.Error as exc:  # busy or locked: next round
                    log.debug("checkpoint skipped: %s", exc)
        finally:
            conn.close()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


class PostgresDatabase(Database):
    """Bounded waits: a connection is acquired (from the pool, or made) within
    ``acquire_timeout_s``, and each statement ends within ``statement_timeout_ms`` (the
    server's ``statement_timeout``, and the driver's ``command_timeout`` half a second later
    for a server that does not answer at all). Past either bound the transaction is rolled
    back and :class:`DatabaseUnavailable` raised (HTTP 503): with the defaults a request
    waits at most about 7.5 s for the database, under Daraja's 8 s."""

    dialect = "postgresql"

    def __init__(self, url: URL, *, pool_size: int = 10, statement_timeout_ms: int = 5000,
                 acquire_timeout_s: float = 2.0):
        super().__init__()
        self.url = url
        self._acquire_timeout_s = acquire_timeout_s
        self._engine: AsyncEngine = create_async_engine(
            url.set(drivername="postgresql+asyncpg"),
            pool_size=pool_size,
            max_overflow=pool_size,
            pool_timeout=acquire_timeout_s,
            connect_args={
                "timeout": acquire_timeout_s,
                "command_timeout": statement_timeout_ms / 1000 + COMMAND_TIMEOUT_MARGIN_S,
                "server_settings": {
                    "statement_timeout": str(int(statement_timeout_ms)),
                    "application_name": "tvtopup",
                },
            },
        )

    async def write(self, fn: TxFn[T], *args: Any, **kwargs: Any) -> T:
        """One transaction; a serialization failure or deadlock (nothing was stored) is run
        again, at most ``PG_RETRIES_MAX`` times in all, after a short random pause."""
        for attempt in range(1, PG_RETRIES_MAX + 1):
            try:
                async with self._engine.begin() as conn:
                    result, signals = await conn.run_sync(unit.run, self._announcing, (fn, *args), kwargs)
            except Exception as exc:  # SQLAlchemy's, or the driver's own past it (fast.py)
                await self._refuse_if_unavailable(exc)
                if _sqlstate(exc) not in PG_RETRY_SQLSTATES or attempt == PG_RETRIES_MAX:
                    raise
                log.warning("retrying transaction after %s (attempt %d of %d)", _sqlstate(exc), attempt,
                            PG_RETRIES_MAX)
                await asyncio.sleep(retry_pause_s(attempt))
                continue
            self._committed(signals)
            return result
        raise AssertionError("unreachable")

    def _announcing(self, conn: Connection, fn: TxFn[T], *args: Any, **kwargs: Any) -> tuple[T, frozenset[str]]:
        """``fn``'s result and signals; a signal that no listener of this process hears is
        sent to the others (``NOTIFY`` on its channel, delivered at COMMIT). Processes that
        listen themselves send nothing: a NOTIFY serializes every notifying COMMIT of the
        server (measured: 2,000 inserting transactions/s fell to 400)."""
        result, signals = unit.with_signals(conn, fn, *args, **kwargs)
        for name in signals:
            channel = unit.CHANNELS.get(name)
            if channel and not self._listeners.get(name):
                conn.execute(text("SELECT pg_notify(:channel, '')"), {"channel": channel})
        return result, signals

    async def read(self, fn: TxFn[T], *args: Any, **kwargs: Any) -> T:
        try:
            async with self._engine.connect() as conn:
                return await conn.run_sync(unit.run, fn, args, kwargs)
        except Exception as exc:
            await self._refuse_if_unavailable(exc)
            raise

    async def _refuse_if_unavailable(self, exc: Exception) -> None:
        """Raise :class:`DatabaseUnavailable` for a lost server or a bound that ran out.

        A lost server makes every pooled connection stale: start a new pool (the old
        connections are dropped, not closed: closing a dead socket can hang)."""
        if isinstance(exc, (SATimeoutError, TimeoutError)) or _sqlstate(exc) in PG_TIMEOUT_SQLSTATES:
            log.warning("database too slow (%s): refusing the transaction", type(exc).__name__)
            raise DatabaseUnavailable("the database did not answer in time; try again") from exc
        if getattr(exc, "connection_invalidated", False) or \
                any(isinstance(e, (OSError, ConnectionError)) or type(e).__name__ in _GONE for e in _causes(exc)):
            log.warning("database unreachable (%s): connecting again on the next transaction", type(exc).__name__)
            await self._engine.dispose(close=False)
            raise DatabaseUnavailable("the database cannot be reached; try again") from exc

    @contextlib.asynccontextmanager
    async def listen(self, channel: str, callback: Callable[[], None]):
        task = asyncio.create_task(self._listen(channel, callback), name=f"listen-{channel}")
        try:
            yield
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _listen(self, channel: str, callback: Callable[[], None]) -> None:
        """LISTEN on its own connection; after a loss, wait ``LISTEN_RETRY_S`` and connect again."""
        dsn = self.url.set(drivername="postgresql").render_as_string(hide_password=False)
        while True:
            conn = None
            try:
                conn = await asyncpg.connect(dsn, timeout=self._acquire_timeout_s)
                lost = asyncio.Event()
                conn.add_termination_listener(lambda _conn: lost.set())
                await conn.add_listener(channel, lambda *_: callback())
                callback()  # what was written while nobody listened
                await lost.wait()
                log.warning("LISTEN %s: connection lost; listening again in %g s", channel, LISTEN_RETRY_S)
            except (OSError, asyncio.TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("LISTEN %s failed (%s); trying again in %g s", channel, type(exc).__name__,
                            LISTEN_RETRY_S)
            finally:
                if conn is not None:
                    conn.terminate()
            await asyncio.sleep(LISTEN_RETRY_S)

    async def close(self) -> None:
        await self._engine.dispose()


def retry_pause_s(attempt: int) -> float:
    """Full jitter: a random pause up to ``PG_RETRY_PAUSE_S * 2**attempt``, so that the
    transactions that collided do not collide again."""
    return random.uniform(0, PG_RETRY_PAUSE_S * 2 ** attempt)


class DatabaseUnavailable(DomainError):
    """The server cannot be reached or dropped the connection (a restart, a failover).

    Nothing is retried here: a write whose COMMIT went unanswered may have happened, and
    only the caller's idempotency (a provider's retry with the same id) can tell. The pool
    drops its connections, and the next transaction connects again.
    """

    code = "database_unavailable"
    http_status = 503


def _causes(exc: BaseException):
    """``exc`` and what it was raised from, to the root."""
    seen = 0
    while exc is not None and seen < 10:
        yield exc
        exc, seen = exc.__cause__ or exc.__context__, seen + 1


# asyncpg's names for a connection that is gone or a server shutting down
_GONE = {"ConnectionDoesNotExistError", "ConnectionFailureError", "CannotConnectNowError", "AdminShutdownError",
         "CrashShutdownError", "ConnectionRejectionError", "InterfaceError", "InternalClientError"}


def _sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE of ``exc`` (SQLAlchemy's wrapper or the driver's own error), if any."""
    for e in _causes(exc):
        for holder in (e, getattr(e, "orig", None)):
            code = getattr(holder, "sqlstate", None) or getattr(holder, "pgcode", None)
            if isinstance(code, str):
                return code
    return None


def open_database(url: str | URL, *, pool_size: int = 10, sqlite_synchronous: str = "FULL",
                  sqlite_busy_timeout_ms: int = 5000, statement_timeout_ms: int = 5000,
                  acquire_timeout_s: float = 2.0) -> Database:
    """A :class:`Database` for ``url``: ``sqlite[+aiosqlite]:///FILE`` or ``postgresql[+asyncpg]://…``."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return SqliteDatabase(parsed, synchronous=sqlite_synchronous, busy_timeout_ms=sqlite_busy_timeout_ms)
    if backend == "postgresql":
        return PostgresDatabase(parsed, pool_size=pool_size, statement_timeout_ms=statement_timeout_ms,
                                acquire_timeout_s=acquire_timeout_s)
    raise ValueError(f"database.url: unsupported database {backend!r} (sqlite or postgresql)")


def database_from_settings(settings: Any) -> Database:
    db = settings.database
    return open_database(db.url, pool_size=db.pool_size, sqlite_synchronous=db.sqlite_synchronous,
                         sqlite_busy_timeout_ms=db.sqlite_busy_timeout_ms,
                         statement_timeout_ms=db.statement_timeout_ms, acquire_timeout_s=db.acquire_timeout_s)


def async_url(url: str | URL) -> URL:
    """The async-driver form of ``url`` (what Alembic's async environment connects with)."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    return parsed.set(drivername={"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+asyncpg"}[backend])


__all__ = ["Database", "SqliteDatabase", "PostgresDatabase", "open_database", "database_from_settings",
           "async_url"]
