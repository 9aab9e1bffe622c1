"""A cache of wrong-PIN locks (:class:`billing_core.lockouts.Lockouts`) on any state store.

The database holds the counts and the locks (:mod:`billing_core.db.lockout_store`);
this cache lets a phone it knows is locked be refused before any database write.
Keys in the store: ``lockout:lock:KEY`` (when it was locked, living until the lock
ends but at most :data:`CACHE_MAX_S`, so that an operator's unlock from another
process reaches an in-process cache within that time) and ``lockout:tally:NAME``.

A store that cannot answer makes :meth:`StateLockouts.locked` and
:meth:`StateLockouts.tally` raise :class:`LockoutsUnavailable` (callers refuse rather
than guess); remembering or forgetting a lock is best effort (the database decides).
"""
from __future__ import annotations

import logging
import time
from typing import Awaitable, Callable, TypeVar

from billing_core.lockouts import LockoutPolicy, LockoutsUnavailable
from gateway.state.store import State, StateUnavailable

T = TypeVar("T")
LOCK, TALLY = "lockout:lock:", "lockout:tally:"
CACHE_MAX_S = 60
log = logging.getLogger(__name__)


class StateLockouts:
    def __init__(self, state: State, *, failures: int, window_s: int, lockout_s: int,
                 clock: Callable[[], float] = time.time):
        self.state = state
        self.policy = LockoutPolicy(failures, window_s, lockout_s)
        self._clock = clock

    async def _guard(self, awaitable: Awaitable[T]) -> T:
        try:
            return await awaitable
        except StateUnavailable as exc:
            raise LockoutsUnavailable("lockouts cannot be checked now; try again in a moment") from exc

    async def locked(self, key: str) -> bool:
        return await self._guard(self.state.get(LOCK + key)) is not None

    async def remember(self, key: str, until: int, now: int) -> None:
        ttl_s = min(until - now, CACHE_MAX_S)
        if ttl_s > 0:
            try:
                await self.state.set(LOCK + key, str(int(now)), ttl_s)
            except StateUnavailable as exc:  # the database still refuses it
                log.debug("lock not cached: %s", exc)

    async def forget(self, *keys: str) -> None:
        try:
            await self.state.delete(*(LOCK + key for key in keys))
        except StateUnavailable as exc:
            log.warning("lock cache not cleared (%s): other processes keep refusing for up to %d s", exc,
                        CACHE_MAX_S)

    async def tally(self, name: str, window_s: int) -> int:
        return await self._guard(self.state.incr(TALLY + name, window_s))
