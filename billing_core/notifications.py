"""Use cases that tell the TV system and the subscriber: the expiry sweep, reminders, refresh.

Each batch is one database transaction that also writes the outbox events it
causes (entitlement, on-screen notice, SMS), in the subscriber's language.

- :func:`sweep_expiry`: at expiry, renew from a covering wallet, otherwise expire
  (revoke, notify) once the grace period is over. Batches of ``limit``; safe with
  several processes (rows are locked as they are read, each decision is taken on
  the locked row, and a row another transaction holds is left for the next round).
- :func:`send_reminders`: the reminders due now, each once (a unique row per
  subscriber, expiry and days).
- :func:`refresh_entitlement`: "refresh my decoder", rate-limited per card in the
  database, so the limit holds across processes.
- :func:`end_ppv_and_addons`: revoke pay-per-view purchases of ended events (each once)
  and renew or expire the add-ons due (:mod:`billing_core.ppv`, :mod:`billing_core.addons`).

Refusals (``DomainError`` with a stable ``code``)::

    Conflict
    ├── NotActive          refresh of a card that is not active (nothing to re-send)
    └── RefreshTooSoon     refresh again before ``tv.refresh_min_interval_s`` (HTTP 429)
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass

from billing_core.context import Billing
from billing_core.db import subscriber_store as store
from billing_core.errors import Conflict
from billing_core.reminders import windows

BATCHES_MAX = 100_000  # a sweep stops after this many batches per call (every loop has a bound)


class NotActive(Conflict):
    code = "not_active"


class RefreshTooSoon(Conflict):
    code = "refresh_too_soon"
    http_status = 429

    def __init__(self, detail: str = "", retry_after_s: int = 0):
        super().__init__(detail)
        self.retry_after_s = retry_after_s


async def sweep_expiry(billing: Billing, *, limit: int = 200, grace_s: int = 0, pause_s: float = 0.0,
                       concurrency: int = 1) -> dict[str, int]:
    """Renew or expire everything due now, ``limit`` per transaction; returns the counts.

    ``concurrency`` batches run at once (PostgreSQL: each takes different rows, as
    locked rows are skipped; SQLite: they queue on its single writer). ``pause_s``
    between batches leaves room to the gateway's own transactions.
    """
    now = billing.now()
    total = {"renewed": 0, "expired": 0}
    cursor: dict[str, int | None] = {"after": None}  # shared: every batch starts past the others' rows

    async def worker() -> None:
        for _ in range(BATCHES_MAX):
            done = await billing.db.write(store.sweep_expiry_batch, now, grace_s, limit, cursor["after"])
            total["renewed"] += done["renewed"]
            total["expired"] += done["expired"]
            if done["last"] is not None:
                cursor["after"] = max(cursor["after"] or done["last"], done["last"])
            if done["seen"] < limit:
                return
            await asyncio.sleep(pause_s)

    await asyncio.gather(*(worker() for _ in range(max(1, concurrency))))
    return total


async def send_reminders(billing: Billing, reminder_days: tuple[int, ...] | list[int], *,
                         limit: int = 200) -> int:
    """Send the reminders due now (each configured ``days`` once per expiry); returns how many."""
    now = billing.now()
    sent = 0
    for window in windows(reminder_days):
        after = None
        for _ in range(BATCHES_MAX):
            done = await billing.db.write(store.send_reminders_batch, now, window.days, window.after_s,
                                          window.until_s, limit, after)
            sent += done["sent"]
            after = done["last"]
            if done["seen"] < limit:
                break
    return sent


async def end_ppv_and_addons(billing: Billing, *, limit: int = 200) -> dict[str, int]:
    """The scheduler's step after the expiry sweep (which renews base packages first, so an
    aligned add-on sees its base renewed): ``{"ppv_revoked", "addons_renewed", "addons_expired"}``."""
    from billing_core import addons, ppv

    revoked = await ppv.revoke_ended(billing, limit=limit)
    swept = await addons.sweep_addons(billing, limit=limit)
    return {"ppv_revoked": revoked, "addons_renewed": swept["renewed"], "addons_expired": swept["expired"]}


@dataclass(frozen=True, slots=True)
class Refreshed:
    card: str
    expires_at: int
    products: tuple[str, ...]


async def refresh_entitlement(billing: Billing, card: str, *, min_interval_s: int = 300) -> Refreshed:
    """Re-send the current entitlement grant and an on-screen notice to an active card.

    Raises :class:`NotActive` or :class:`RefreshTooSoon` (``retry_after_s``), or
    ``UnknownCard``; a refusal writes nothing.
    """
    card = billing.card(card)
    outcome = await billing.db.write(store.refresh_entitlement, card, billing.now(), min_interval_s)
    if outcome.status == "not_active":
        raise NotActive(f"card {card} is not active: there is nothing to re-send")
    if outcome.status == "too_soon":
        raise RefreshTooSoon(f"card {card} was refreshed moments ago; try again in {outcome.retry_after_s} s",
                             retry_after_s=outcome.retry_after_s)
    sub = outcome.subscriber
    return Refreshed(sub.card, sub.expires_at, sub.package.products if sub.package else ())


__all__ = ["NotActive", "RefreshTooSoon", "Refreshed", "refresh_entitlement", "end_ppv_and_addons", "send_reminders", "sweep_expiry"]
