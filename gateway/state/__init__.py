"""Short-lived shared state: counters with a time to live, set-if-absent keys with a TTL.

One process keeps it in memory (:class:`MemoryState`); several processes share Redis
(:class:`RedisState`, chosen when ``redis.url`` is set). It holds rate limits, SMS
de-duplication and a cache of wrong-PIN locks (:class:`StateLockouts`; the locks
themselves live in the database). What a restart of each loses: docs/deployment.md.

Every Redis call has a timeout; when Redis cannot be reached a call raises
:class:`StateUnavailable` at once, never waits without bound, and callers fail closed.
"""
from __future__ import annotations

import time
from typing import Any, Callable

from gateway.state.lockouts import StateLockouts
from gateway.state.memory import MemoryState
from gateway.state.redis_state import RedisState
from gateway.state.store import State, StateUnavailable

STATE_TIMEOUT_S = 1.0


def open_state(settings: Any, *, clock: Callable[[], float] = time.time) -> State:
    """Redis when ``redis.url`` is set (keys under ``redis.key_prefix``), else in-process.

    Opening connects nothing: the first call does, under its timeout.
    """
    if settings.redis.url:
        return RedisState.from_url(settings.redis.url, prefix=settings.redis.key_prefix, timeout_s=STATE_TIMEOUT_S)
    return MemoryState(clock=clock)


def lockouts_from_settings(settings: Any, state: State, *, clock: Callable[[], float] = time.time) -> StateLockouts:
    """Wrong-PIN lockouts on ``state`` with the ``security.lockout_*`` settings."""
    security = settings.security
    return StateLockouts(state, failures=security.lockout_failures, window_s=security.lockout_window_minutes * 60,
                         lockout_s=security.lockout_minutes * 60, clock=clock)


__all__ = ["State", "StateUnavailable", "MemoryState", "RedisState", "StateLockouts", "open_state",
           "lockouts_from_settings", "STATE_TIMEOUT_S"]
