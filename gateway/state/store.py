"""What every state store offers (the protocol) and how it fails."""
from __future__ import annotations

from typing import Protocol


class StateUnavailable(Exception):
    """The store could not answer in time (Redis down or too slow)."""


class State(Protocol):
    """Keys are plain strings; a store may prefix them. Values are strings."""

    async def incr(self, key: str, ttl_s: int) -> int:
        """Add 1 to the counter ``key`` and return it; a new counter lives ``ttl_s`` seconds
        (later increments keep that deadline: a fixed window from the first event)."""

    async def set_nx(self, key: str, value: str, ttl_s: int) -> bool:
        """Set ``key`` for ``ttl_s`` seconds unless it exists; whether it was set."""

    async def set(self, key: str, value: str, ttl_s: int) -> None:
        """Set ``key`` for ``ttl_s`` seconds, replacing any value."""

    async def get(self, key: str) -> str | None:
        """The value of ``key``; None when it does not exist or expired."""

    async def ttl(self, key: str) -> int | None:
        """Seconds ``key`` has left; None when it does not exist."""

    async def delete(self, *keys: str) -> int:
        """Delete ``keys``; how many existed."""

    async def scan(self, prefix: str, limit: int = 1000) -> list[str]:
        """Up to ``limit`` live keys starting with ``prefix`` (in no particular order)."""

    async def close(self) -> None:
        """Release connections."""
