"""Group commit for SQLite: one thread owns the write connection and commits
queued transactions together.

Each job (a use case's transaction function) runs inside its own SAVEPOINT, and
the whole group inside one ``BEGIN IMMEDIATE … COMMIT``: N jobs share one fsync
(``synchronous = FULL`` stays affordable) while a job that raises is rolled back
alone. A job's caller hears of its outcome only after the group's COMMIT returned,
so nothing is acknowledged before it is on disk. If the COMMIT itself fails, every
job of the group fails with that error and nothing of it is stored.
"""
from __future__ import annotations

import asyncio
import logging
import queue
import threading
from typing import Any, Callable

from sqlalchemy.engine import Engine

from billing_core.db import unit
from billing_core.errors import DomainError

log = logging.getLogger(__name__)
GROUP_MAX = 64
QUEUE_MAX = 10_000
_STOP = object()

# Called when a group's COMMIT fails: caches of what the group wrote must be dropped.
ROLLBACK_HOOKS: list[Callable[[], None]] = []


class Overloaded(DomainError):
    code = "overloaded"
    http_status = 503


class GroupWriter:
    def __init__(self, engine: Engine, *, group_max: int = GROUP_MAX, queue_max: int = QUEUE_MAX):
        self._engine = engine
        self._group_max = group_max
        self._queue: queue.Queue = queue.Queue(maxsize=queue_max)
        self._thread = threading.Thread(target=self._loop, name="sqlite-writer", daemon=True)
        self._thread.start()

    def submit(self, fn: Callable[..., Any], args: tuple, kwargs: dict) -> asyncio.Future:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        try:
            self._queue.put_nowait((fn, args, kwargs, future, loop))
        except queue.Full:
            raise Overloaded("the database is busy; try again") from None
        return future

    def call(self, fn: Callable[..., Any], *args: Any) -> asyncio.Future:
        """Run a plain function (not a transaction) in the writer thread."""
        return self.submit(lambda _conn, *a: fn(*a), args, {})

    def stop(self) -> None:
        self._queue.put(_STOP)
        self._thread.join()

    def _loop(self) -> None:
        while True:
            job = self._queue.get()
            if job is _STOP:
                return
            group, stop = [job], False
            while len(group) < self._group_max:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is _STOP:
                    stop = True
                    break
                group.append(nxt)
            self._commit(group)
            if stop:
                return

    def _commit(self, group: list) -> None:
        outcomes: list[tuple[bool, Any]] = []
        try:
            with self._engine.begin() as conn:
                if len(group) == 1:
                    fn, args, kwargs, _future, _loop = group[0]
                    outcomes.append((True, unit.run(conn, fn, args, kwargs)))
                else:
                    for fn, args, kwargs, _future, _loop in group:
                        outcomes.append(_run_in_savepoint(conn, fn, args, kwargs))
        except BaseException as exc:  # the group is not stored: every job fails alike
            if len(group) > 1:
                log.error("group commit of %d transactions failed: %r", len(group), exc)
            for hook in ROLLBACK_HOOKS:
                hook()
            outcomes = [(False, exc)] * len(group)
        for (ok, value), (_fn, _args, _kwargs, future, loop) in zip(outcomes, group):
            loop.call_soon_threadsafe(_settle, future, ok, value)


def _run_in_savepoint(conn, fn, args, kwargs) -> tuple[bool, Any]:
    savepoint = conn.begin_nested()
    try:
        result = unit.run(conn, fn, args, kwargs)
    except Exception as exc:
        savepoint.rollback()
        return False, exc
    savepoint.commit()
    return True, result


def _settle(future: asyncio.Future, ok: bool, value: Any) -> None:
    if future.cancelled():
        return
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)
