"""State in this process: a dict with deadlines from an injected clock, bounded in size.

Correct for one process only. Deadlines also sit in a heap, cleaned lazily: each
write first drops the keys whose time is up from the top of the heap, so expiry
costs O(log n) per key, never a sweep of the whole store. A full store refuses new
keys (:class:`StateFull`, a :class:`StateUnavailable`: callers answer "busy" or fall
back) and never evicts a live key before its time, so a flood of made-up senders
cannot push out what others hold. Each namespace (a key's first two ``:``-separated
parts: ``rate:sms_inbound``, ``ussd:s``, ``sms:seen``…) may hold at most a share of
the store, so a flood of SMS from made-up senders fills its own namespaces and USSD
sessions still find room. Stale heap entries (keys replaced or deleted early) are
bounded: past twice the live keys the heap is rebuilt.
"""
from __future__ import annotations

import heapq
import logging
import math
import time
from typing import Callable

from gateway.state.store import StateUnavailable

MAX_KEYS = 100_000
NAMESPACE_SHARE = 4  # a namespace holds at most MAX_KEYS // NAMESPACE_SHARE keys
HEAP_SLACK = 1024  # stale heap entries tolerated beyond the live keys before a rebuild
FULL_LOG_EVERY_S = 60
log = logging.getLogger(__name__)


class StateFull(StateUnavailable):
    """The in-process store holds its maximum of live keys: a new key is refused."""


class MemoryState:
    def __init__(self, *, clock: Callable[[], float] = time.time, max_keys: int = MAX_KEYS,
                 namespace_max: int | None = None):
        self._clock = clock
        self._max_keys = max_keys
        self._namespace_max = namespace_max or max(1, max_keys // NAMESPACE_SHARE)
        self._data: dict[str, tuple[str, float]] = {}  # key -> (value, deadline)
        self._per_namespace: dict[str, int] = {}  # namespace -> live keys
        self._heap: list[tuple[float, str]] = []  # (deadline, key); stale when the key's deadline differs
        self._refused = 0
        self._refused_logged_at = -math.inf

    def _live(self, key: str) -> tuple[str, float] | None:
        item = self._data.get(key)
        if item is not None and item[1] <= self._clock():
            self._drop(key)
            return None
        return item

    def _drop(self, key: str) -> None:
        del self._data[key]
        space = _namespace(key)
        left = self._per_namespace[space] - 1
        if left:
            self._per_namespace[space] = left
        else:
            del self._per_namespace[space]

    def _put(self, key: str, value: str, deadline: float) -> None:
        if key not in self._data:
            self._expire(self._clock())
            space = _namespace(key)
            held = self._per_namespace.get(space, 0)
            if len(self._data) >= self._max_keys or held >= self._namespace_max:
                self._refuse(space)
            self._per_namespace[space] = held + 1
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
                self._drop(key)

    def _refuse(self, space: str) -> None:
        self._refused += 1
        now = time.monotonic()
        if now - self._refused_logged_at >= FULL_LOG_EVERY_S:
            log.warning("in-process state full (%d live keys, %d under %s): %d new keys refused so far; "
                        "use Redis (redis.url) for more", len(self._data), self._per_namespace.get(space, 0),
                        space, self._refused)
            self._refused_logged_at = now
        raise StateFull(f"in-process state is full for {space} ({len(self._data)} keys); try again later")

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
        gone = 0
        for key in keys:
            if self._live(key) is not None:
                self._drop(key)
                gone += 1
        return gone

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
        self._per_namespace.clear()

    def __len__(self) -> int:
        return len(self._data)


def _namespace(key: str) -> str:
    """``rate:sms_inbound`` of ``rate:sms_inbound:+2547…``, ``ussd:s`` of ``ussd:s:SID``, ``c`` of ``c:1``."""
    parts = key.split(":", 2)
    return f"{parts[0]}:{parts[1]}" if len(parts) == 3 else parts[0]
