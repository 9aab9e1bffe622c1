"""The scheduler: expiry (renew from the wallet, or revoke and notify) and reminders, on time.

Every gateway process may run a scheduler; one at a time leads. Leadership is a
lease row (``worker_leases``, name ``scheduler``) taken or renewed for ``lease_s``
seconds by a conditional UPDATE, the same on SQLite and PostgreSQL. Every process
asks for it every ``lease_s / 3`` (the leader renews, the others try to take it),
whatever ``interval_s`` is: a process that dies stops renewing, another takes over
within about ``lease_s`` and starts a round at once; a clean stop lets go at once.

Leadership only saves work: correctness does not depend on it. The expiry sweep
re-decides every subscription on its locked row (a second sweep finds it renewed
or expired already), and a reminder is sent only by the transaction that inserts
its unique ``reminders`` row. So two schedulers running at once (a lease that ran
out under a stalled leader) still renew once, expire once and remind once.

Each round: the expiry sweep (grace period ``grace_s``), then the reminders due
(``reminder_days`` before expiry), then the pay-per-view purchases of ended events are
revoked (each once: a conditional UPDATE of ``revoked_at``) and the add-ons due renewed
or expired; in batches of ``batch_size``, each batch one transaction.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any

from billing_core.context import Billing
from billing_core.db import outbox_store
from billing_core.notifications import end_ppv_and_addons, send_reminders, sweep_expiry
from billing_core.reminders import HOUR_S
from tv_notify.dispatcher import default_holder

log = logging.getLogger("tvtopup.scheduler")
LEASE_NAME = "scheduler"


class Scheduler:
    """``renewed``, ``expired``, ``reminded`` count this process's work; ``leading`` is for metrics."""

    def __init__(self, billing: Billing, *, interval_s: float, batch_size: int,
                 reminder_days: tuple[int, ...] = (3, 1), grace_s: int = 0, lease_s: int = 6,
                 holder: str | None = None, pause_s: float = 0.0):
        self.billing = billing
        self.interval_s = interval_s
        self.batch_size = batch_size
        self.reminder_days = tuple(reminder_days)
        self.grace_s = grace_s
        self.lease_s = lease_s
        self.holder = holder or default_holder()
        self.pause_s = pause_s
        self.renewed = 0
        self.expired = 0
        self.reminded = 0
        self.ppv_revoked = 0
        self.addons_renewed = 0
        self.addons_expired = 0
        self.leading = False

    @classmethod
    def from_settings(cls, settings: Any, billing: Billing, *, holder: str | None = None) -> Scheduler:
        sch = settings.scheduler
        return cls(billing, interval_s=sch.interval_s, batch_size=sch.batch_size, reminder_days=sch.reminder_days,
                   grace_s=sch.grace_hours * HOUR_S, lease_s=sch.lease_s, holder=holder)

    async def lead(self) -> bool:
        """Take or renew the scheduler's lease; whether this process leads now."""
        leading = await self.billing.db.write(outbox_store.take_lease, LEASE_NAME, self.holder,
                                              self.billing.now(), self.lease_s)
        if leading != self.leading:
            log.info("scheduler: %s (%s)", "leading" if leading else "standing by", self.holder)
        self.leading = leading
        return leading

    async def step_down(self) -> None:
        """Let go of the lease (a clean stop): another process leads at its next round."""
        if self.leading:
            await self.billing.db.write(outbox_store.drop_lease, LEASE_NAME, self.holder)
            self.leading = False

    async def run_once(self) -> dict[str, int]:
        """One round if this process leads: the expiry sweep, then the reminders due.

        The lease is renewed every ``lease_s / 3`` while the round works (a mass expiry
        can outlast ``lease_s``).
        """
        if not await self.lead():
            return {"renewed": 0, "expired": 0, "reminded": 0}
        keeping = asyncio.create_task(self._keep_lease())
        try:
            return await self.work()
        finally:
            keeping.cancel()
            await asyncio.gather(keeping, return_exceptions=True)

    async def _keep_lease(self) -> None:
        while True:
            await asyncio.sleep(self.lease_s / 3)
            try:
                await self.lead()
            except Exception:  # the database may be away; the round's own writes will tell
                log.exception("scheduler: renewing the lease failed")

    async def work(self) -> dict[str, int]:
        """The round's work without asking for leadership (tests, benchmarks, a one-off run)."""
        total = await sweep_expiry(self.billing, limit=self.batch_size, grace_s=self.grace_s, pause_s=self.pause_s)
        total["reminded"] = await send_reminders(self.billing, self.reminder_days, limit=self.batch_size)
        self.renewed += total["renewed"]
        self.expired += total["expired"]
        self.reminded += total["reminded"]
        if any(total.values()):
            log.info("scheduler: %(renewed)d renewed from the wallet, %(expired)d expired, "
                     "%(reminded)d reminded", total)
        extra = await end_ppv_and_addons(self.billing, limit=self.batch_size)
        self.ppv_revoked += extra["ppv_revoked"]
        self.addons_renewed += extra["addons_renewed"]
        self.addons_expired += extra["addons_expired"]
        if any(extra.values()):
            log.info("scheduler: %(ppv_revoked)d pay-per-view revoked, add-ons: %(addons_renewed)d renewed, "
                     "%(addons_expired)d expired", extra)
        return total

    async def run_forever(self, stop: asyncio.Event) -> None:
        """A round every ``interval_s`` while leading, and at once on becoming the leader."""
        became_leader = asyncio.Event()
        keeping = asyncio.create_task(self._ask_for_lead(stop, became_leader))
        try:
            while not stop.is_set():
                became_leader.clear()
                try:
                    await self.run_once()
                except Exception:  # a bad round is logged; the next round tries again
                    log.exception("scheduler round failed")
                await _first(stop, became_leader, timeout_s=self.interval_s)
        finally:
            keeping.cancel()
            await asyncio.gather(keeping, return_exceptions=True)
            try:
                await self.step_down()
            except Exception:
                log.exception("scheduler: could not let go of the lease (it runs out by itself)")

    async def _ask_for_lead(self, stop: asyncio.Event, became_leader: asyncio.Event) -> None:
        """Take or renew the lease every ``lease_s / 3``; tell the round loop when it was taken."""
        while not stop.is_set():
            await _first(stop, timeout_s=self.lease_s / 3)
            if stop.is_set():
                return
            was_leading = self.leading
            try:
                if await self.lead() and not was_leading:
                    became_leader.set()
            except Exception:  # the database may be away: the next beat tries again
                log.exception("scheduler: taking or renewing the lease failed")


async def _first(*events: asyncio.Event, timeout_s: float) -> None:
    """Wait until one of ``events`` is set, or ``timeout_s`` has passed."""
    waits = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(waits, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for wait in waits:
            wait.cancel()
        await asyncio.gather(*waits, return_exceptions=True)


__all__ = ["LEASE_NAME", "Scheduler"]
