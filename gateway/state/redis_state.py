"""State in Redis, shared by every gateway process.

Counters are ``SET key 0 EX ttl NX`` then ``INCR`` in one MULTI, so the first event
fixes the window and a counter never lives forever. Every key carries
``redis.key_prefix``. Each call runs under ``timeout_s`` with no retries: when Redis
is down or slow the caller hears :class:`StateUnavailable` within the timeout.
"""
from __future__ import annotations

import asyncio
from typing import Any, Awaitable, TypeVar

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from gateway.state.store import StateUnavailable

T = TypeVar("T")
SCAN_COUNT = 500


class RedisState:
    def __init__(self, client: Any, *, prefix: str = "", timeout_s: float = 1.0):
        self._client = client
        self._prefix = prefix
        self._timeout_s = timeout_s

    @classmethod
    def from_url(cls, url: str, *, prefix: str = "", timeout_s: float = 1.0) -> RedisState:
        client = aioredis.Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s,
                                         retry=Retry(NoBackoff(), 0), decode_responses=True)
        return cls(client, prefix=prefix, timeout_s=timeout_s)

    async def _call(self, awaitable: Awaitable[T]) -> T:
        try:
            async with asyncio.timeout(self._timeout_s):
                return await awaitable
        except (RedisError, OSError, TimeoutError) as exc:
            raise StateUnavailable(f"redis: {type(exc).__name__}: {exc}") from None

    async def incr(self, key: str, ttl_s: int) -> int:
        async def run() -> int:
            async with self._client.pipeline(transaction=True) as pipe:
                pipe.set(self._prefix + key, 0, ex=max(1, int(ttl_s)), nx=True)
                pipe.incr(self._prefix + key)
                return int((await pipe.execute())[1])

        return await self._call(run())

    async def set_nx(self, key: str, value: str, ttl_s: int) -> bool:
        return bool(await self._call(self._client.set(self._prefix + key, value, ex=max(1, int(ttl_s)), nx=True)))

    async def set(self, key: str, value: str, ttl_s: int) -> None:
        await self._call(self._client.set(self._prefix + key, value, ex=max(1, int(ttl_s))))

    async def get(self, key: str) -> str | None:
        return await self._call(self._client.get(self._prefix + key))

    async def ttl(self, key: str) -> int | None:
        left = await self._call(self._client.ttl(self._prefix + key))
        return None if left == -2 else max(0, int(left)) if left >= 0 else None

    async def delete(self, *keys: str) -> int:
        if not keys:
            return 0
        return int(await self._call(self._client.delete(*(self._prefix + k for k in keys))))

    async def scan(self, prefix: str, limit: int = 1000) -> list[str]:
        async def run() -> list[str]:
            found: list[str] = []
            pattern = _glob_escape(self._prefix + prefix) + "*"
            async for key in self._client.scan_iter(match=pattern, count=SCAN_COUNT):
                found.append(key[len(self._prefix):])
                if len(found) >= limit:
                    break
            return found

        return await self._call(run())

    async def close(self) -> None:
        try:
            await asyncio.wait_for(self._client.aclose(), self._timeout_s)
        except (RedisError, OSError, TimeoutError):
            pass


def _glob_escape(text: str) -> str:
    return "".join("\\" + ch if ch in "*?[]\\" else ch for ch in text)
