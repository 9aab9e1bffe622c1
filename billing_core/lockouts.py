"""Lockouts: how wrong PINs are counted and phones locked out (the rules and the cache protocol).

A use case that checks a secret typed by a subscriber (a scratch-card PIN) counts the
attempt against keys such as ``msisdn:+254712345678`` and ``card:12345678``
*before* it looks the secret up, in the same database transaction as the look-up
(:func:`billing_core.db.card_store.redeem_counted`): a conditional upsert takes the
key's row, and refuses once ``security.lockout_failures`` attempts are counted within
``security.lockout_window_minutes``. Parallel attempts therefore queue on the row,
and no more than the limit are ever looked up. A correct secret gives its attempt
back; the failure that reaches the limit locks the key for ``security.lockout_minutes``
and starts a fresh count for afterwards.

Which keys an attempt counts against (:func:`keys_for`): always the phone's; the
card's only when the phone is not the card's registered phone, so strangers typing a
card's number lock the card for strangers, never for its owner (whose phone keeps its
own limit).

Counts and lock-outs live in the database (table ``lockouts``), so they survive a
restart of Redis or of the gateway. Redis (or the in-process store) is a cache of
locks (:class:`Lockouts`), so a locked phone is refused before any database write;
when that cache cannot be reached callers raise :class:`LockoutsUnavailable` and
refuse (fail closed).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from billing_core.errors import Conflict, DomainError


class LockedOut(Conflict):
    """Too many wrong PINs from this phone (or for this card): try again later.

    ``key`` and ``until`` (epoch seconds) say which lock refused, when the database knows."""

    code = "locked_out"
    http_status = 429

    def __init__(self, detail: str = "", *extra: object, key: str = "", until: int = 0):
        super().__init__(detail, *extra)
        self.key, self.until = key, until


class LockoutsUnavailable(DomainError):
    """The lockout cache cannot be reached: the attempt is refused, not waved through."""

    code = "lockouts_unavailable"
    http_status = 503


@dataclass(frozen=True, slots=True)
class LockoutPolicy:
    failures: int  # attempts counted in a window before the key locks
    window_s: int  # a window runs from its first failure
    lockout_s: int


@dataclass(frozen=True, slots=True)
class Lockout:
    key: str  # "msisdn:+2547…" or "card:…"
    locked_at: int  # epoch seconds
    remaining_s: int  # until it lifts by itself

    def to_json(self) -> dict:
        return {"key": self.key, "locked_at": self.locked_at, "remaining_s": self.remaining_s}


class Lockouts(Protocol):
    """The rules (``policy``) and a cache of locks in Redis or this process."""

    policy: LockoutPolicy

    async def locked(self, key: str) -> bool:
        """Whether the cache knows ``key`` is locked now (the database is the truth)."""

    async def remember(self, key: str, until: int, now: int) -> None:
        """Cache that ``key`` is locked until ``until``; a cache that is away is ignored."""

    async def forget(self, *keys: str) -> None:
        """Drop ``keys`` from the cache (after an operator lifts their lock-outs)."""

    async def tally(self, name: str, window_s: int) -> int:
        """Count one event under ``name`` in a window of ``window_s`` that starts with
        its first event; returns the count so far (the global wrong-PIN alarm)."""


def phone_key(msisdn: str) -> str:
    return f"msisdn:{msisdn}"


def card_key(card: str) -> str:
    return f"card:{card}"


def keys_for(msisdn: str, card: str, *, owner: bool) -> tuple[str, ...]:
    """The keys an attempt from ``msisdn`` on ``card`` counts against, in the one order
    their rows are taken (so two attempts never wait on each other in a cycle).
    ``owner``: ``msisdn`` is the card's registered phone, which the card's key never limits."""
    if owner:
        return (phone_key(msisdn),)
    return tuple(sorted((card_key(card), phone_key(msisdn))))


def refusal_text(key: str) -> str:
    return "too many wrong PINs " + ("for this card" if key.startswith("card:") else "from this phone") + \
        ": try again later"


__all__ = ["Lockouts", "Lockout", "LockoutPolicy", "LockedOut", "LockoutsUnavailable", "phone_key", "card_key",
           "keys_for", "refusal_text"]
