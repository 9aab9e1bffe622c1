"""State in this process: a dict with deadlines from an injected clock, bounded in size.

Correct for one process only. When full, expired keys are swept; if still full, the
oldest keys go first (a flood of new keys cannot grow memory without bound).
"""
from __future__ import annotations

import math
import time
from typing import Callable

MAX_KEYS = 100_000


class MemoryState:
    def __init__(self, *, clock: Callable[[], float] = time.time, max_keys: int = MAX_KEYS):
        self._clock = clock
        self._max_keys = max_keys
        self._data: dict[str, tuple[str, float]] = {}  # key -> (value, deadline)

    def _live(self, key: str) -> tuple[str, float] | None:
        item = self._data.get(key)
        if item is not None and item[1] <= self._clock():
            del self._data[key]
            return None
        return item

    def _put(self, key: str, value: str, deadline: float) -> None:
        if key not in self._data and len(self._data) >= self._max_keys:
            self._make_room()
        self._data[key] = (value, deadline)

    def _make_room(self) -> None:
        now = self._clock()
        for key in [k for k, (_v, deadline) in self._data.items() if deadline <= now]:
            del self._data[key]
        while len(self._data) >= self._max_keys:
            del self._data[next(iter(self._data))]

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
        self._data.pop(key, None)
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

    def __len__(self) -> int:
        return len(self._data)
