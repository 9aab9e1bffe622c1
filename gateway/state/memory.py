"""State in this process: a dict with deadlines from an injected clock, bounded in size.

Correct for one process only. Deadlines also sit in a heap, cleaned lazily: each
write first drops the keys whose time is up from the top of the heap, so expiry
costs O(log n) per key, never a sweep of the whole store. A full store refuses new
keys (:class:`StateFull`, a :class:`StateUnavailable`: callers answer "busy" or fall
back) and never evicts a live key before its time, so a flood of made-up senders
cannot push out what others hold. Stale heap entries (keys replaced or deleted
early) are bounded: past twice the live keys the heap is rebuilt.
"""
from __future__ import annotations

import heapq
import logging
import math
import time
from typing import Callable

from gateway.state.store import StateUnavailable

MAX_KEYS = 100_000
HEAP_SLACK = 1024  # stale heap entries tolerated beyond the live keys before a rebuild
FULL_LOG_EVERY_S = 60
log = logging.getLogger(__name__)


class StateFull(StateUnavailable):
    """The in-process store holds its maximum of live keys: a new key is refused."""


class MemoryState:
    def __init__(self, *, clock: Callable[[], float] = time.time, max_keys: int = MAX_KEYS):
        self._clock = clock
        self._max_keys = max_keys
        self._data: dict[str, tuple[str, float]] = {}  # key -> (value, deadline)
        self._heap: list[tuple[float, str]] = []  # (deadline, key); stale when the key's deadline differs
        self._refused = 0
        self._refused_logged_at = -math.inf

    def _live(self, key: str) -> tuple[str, float] | None:
        item = self._data.get(key)
        if item is not None and item[1] <= self._clock():
            del self._data[key]
            return None
        return item

    def _put(self, key: str, value: str, deadline: float) -> None:
        if key not in self._data:
            self._expire(self._clock())
            if len(self._data) >= self._max_keys:
                self._refuse()
        self._data[key] = (value, deadline)
        heapq.heappush(self._heap, (deadline, key))
        if len(self._heap) > 2 * len(self._data) + HEAP_SLACK:
            self._heap = [(deadline, k) for k, (_v, deadline) in self._data.items()]
            heapq.heapify(self._heap)

    def _expire(self, now: float) -> None:
        heap, data = self._heap, self._data
        while heap and heap[0][0] <= now:
            deadline, key = heapq.heappop(heap)
            item = data.get(key)
            if item is not None and item[1] == deadline:
                del data[key]

    def _refuse(self) -> None:
        self._refused += 1
        now = time.monotonic()
        if now - self._refused_logged_at >= FULL_LOG_EVERY_S:
            log.warning("in-process state full (%d live keys): %d new keys refused so far; "
                        "use Redis (redis.url) for more", self._max_keys, self._refused)
            self._refused_logged_at = now
        raise StateFull(f"in-process state is full ({self._max_keys} keys); try again later")

    async def incr(self, key: str, ttl_s: int) -> int:
        item = self._live(key)
        if item is None:
            self._put(key, "1", self._clock() + ttl_s)
            return 1
        value = int(item[0]) + 1
        self._data[key] = (str(value), item[1])
        return value

    async def set_nx(self, key: str, value: str, ttl_s: int) -> bool:
        if self._live(key) is not None:
            return False
        self._put(key, value, self._clock() + ttl_s)
        return True

    async def set(self, key: str, value: str, ttl_s: int) -> None:
        self._live(key)  # an expired key counts as new
        self._put(key, value, self._clock() + ttl_s)

    async def get(self, key: str) -> str | None:
        item = self._live(key)
        return None if item is None else item[0]

    async def ttl(self, key: str) -> int | None:
        item = self._live(key)
        return None if item is None else max(0, math.ceil(item[1] - self._clock()))

    async def delete(self, *keys: str) -> int:
        return sum(self._live(k) is not None and self._data.pop(k, None) is not None for k in keys)

    async def scan(self, prefix: str, limit: int = 1000) -> list[str]:
        found = []
        for key in [k for k in self._data if k.startswith(prefix)]:
            if self._live(key) is not None:
                found.append(key)
                if len(found) >= limit:
                    break
        return found

    async def close(self) -> None:
        self._data.clear()
        self._heap.clear()

    def __len__(self) -> int:
        return len(self._data)
