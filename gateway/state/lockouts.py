"""Wrong-PIN lockouts (:class:`billing_core.lockouts.Lockouts`) on any state store.

Keys in the store: ``lockout:fail:KEY`` (failures in the window, a counter living
``window_s`` from the first failure), ``lockout:lock:KEY`` (set-if-absent for
``lockout_s``, holding when it was locked) and ``lockout:tally:NAME``. The failure
that reaches the limit locks the key and resets its count, so after a lockout a
subscriber has the full number of tries again. A store that cannot answer makes
every call raise :class:`LockoutsUnavailable`: callers refuse rather than guess.
"""
from __future__ import annotations

import time
from typing import Awaitable, Callable, TypeVar

from billing_core.lockouts import Lockout, LockoutsUnavailable
from gateway.state.store import State, StateUnavailable

T = TypeVar("T")
FAIL, LOCK, TALLY = "lockout:fail:", "lockout:lock:", "lockout:tally:"
LIST_MAX = 2000


class StateLockouts:
    def __init__(self, state: State, *, failures: int, window_s: int, lockout_s: int,
                 clock: Callable[[], float] = time.time):
        self.state = state
        self.failures_max = failures
        self.window_s = window_s
        self.lockout_s = lockout_s
        self._clock = clock

    async def _guard(self, awaitable: Awaitable[T]) -> T:
        try:
            return await awaitable
        except StateUnavailable as exc:
            raise LockoutsUnavailable("lockouts cannot be checked now; try again in a moment") from exc

    async def locked(self, key: str) -> bool:
        return await self._guard(self.state.get(LOCK + key)) is not None

    async def failure(self, key: str) -> int:
        count = await self._guard(self.state.incr(FAIL + key, self.window_s))
        if count >= self.failures_max:
            await self._guard(self.state.set_nx(LOCK + key, str(int(self._clock())), self.lockout_s))
            await self._guard(self.state.delete(FAIL + key))
        return count

    async def clear(self, key: str) -> bool:
        was_locked = await self.locked(key)
        await self._guard(self.state.delete(LOCK + key, FAIL + key))
        return was_locked

    async def list(self) -> list[Lockout]:
        found = []
        for name in await self._guard(self.state.scan(LOCK, LIST_MAX)):
            since, left = await self._guard(self.state.get(name)), await self._guard(self.state.ttl(name))
            if since is not None and left is not None:
                found.append(Lockout(name[len(LOCK):], int(since), left))
        return sorted(found, key=lambda lock: (lock.locked_at, lock.key))

    async def tally(self, name: str, window_s: int) -> int:
        return await self._guard(self.state.incr(TALLY + name, window_s))
