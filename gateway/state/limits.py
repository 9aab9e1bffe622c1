"""Rate limits on a state store: at most ``limit`` hits per key in a fixed window.

Shared by every process through the store (Redis when configured). The window is
fixed from a key's first hit (``State.incr``), which is cheap and good enough to stop
floods; a client at the edge of two windows may get up to twice the limit.
When the store cannot answer, :meth:`RateLimit.hit` raises ``StateUnavailable``:
callers decide whether to fail closed (anything that moves value) or open.
"""
from __future__ import annotations

from dataclasses import dataclass

from gateway.state.store import State

PREFIX = "rate:"


@dataclass(frozen=True, slots=True)
class RateLimit:
    state: State
    name: str
    limit: int
    window_s: int

    async def hit(self, key: str) -> bool:
        """Count one hit for ``key``; whether it is within the limit."""
        return await self.state.incr(f"{PREFIX}{self.name}:{key}", self.window_s) <= self.limit

    async def retry_after_s(self, key: str) -> int:
        """Seconds until ``key``'s window ends (0 when it has none)."""
        return max(0, await self.state.ttl(f"{PREFIX}{self.name}:{key}") or 0)


__all__ = ["RateLimit"]
