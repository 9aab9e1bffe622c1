"""Lockouts: how wrong PINs are counted and phones locked out (the protocol only).

A use case that checks a secret typed by a subscriber (a scratch-card PIN) counts
each wrong one against keys such as ``msisdn:+254712345678`` and ``card:12345678``.
After ``security.lockout_failures`` failures within ``security.lockout_window_minutes``
the key is locked for ``security.lockout_minutes``; a locked key is refused before its
secret is looked up. Operators list and lift lockouts.

Implementations live in :mod:`gateway.state` (in-process for one process, Redis for
several). When the store cannot be reached they raise :class:`LockoutsUnavailable`:
callers fail closed (refuse), they never skip the check.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from billing_core.errors import Conflict, DomainError


class LockedOut(Conflict):
    """Too many wrong PINs from this phone (or for this card): try again later."""

    code = "locked_out"
    http_status = 429


class LockoutsUnavailable(DomainError):
    """The lockout store cannot be reached: the attempt is refused, not waved through."""

    code = "lockouts_unavailable"
    http_status = 503


@dataclass(frozen=True, slots=True)
class Lockout:
    key: str  # "msisdn:+2547…" or "card:…"
    locked_at: int  # epoch seconds
    remaining_s: int  # until it lifts by itself

    def to_json(self) -> dict:
        return {"key": self.key, "locked_at": self.locked_at, "remaining_s": self.remaining_s}


class Lockouts(Protocol):
    async def locked(self, key: str) -> bool:
        """Whether ``key`` is locked out now."""

    async def failure(self, key: str) -> int:
        """Count one failure against ``key``; returns the failures within the window.
        The failure that reaches the limit locks the key."""

    async def clear(self, key: str) -> bool:
        """Lift the lockout of ``key`` and forget its failures; whether it was locked."""

    async def list(self) -> list[Lockout]:
        """The keys locked out now (for operators), at most a few thousand."""

    async def tally(self, name: str, window_s: int) -> int:
        """Count one event under ``name`` in a window of ``window_s`` that starts with
        its first event; returns the count so far (the global wrong-PIN alarm)."""


def phone_key(msisdn: str) -> str:
    return f"msisdn:{msisdn}"


def card_key(card: str) -> str:
    return f"card:{card}"


__all__ = ["Lockouts", "Lockout", "LockedOut", "LockoutsUnavailable", "phone_key", "card_key"]
