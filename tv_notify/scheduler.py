"""The scheduler: at expiry, renew from the wallet or expire (revoke and notify).

Safe with several processes: each subscription is re-read under its row lock
before the decision, so a second process finds it already renewed or expired.
"""
from __future__ import annotations

import asyncio
import logging

from billing_core.context import Billing
from billing_core.subscriptions import expire_due

log = logging.getLogger("tvtopup.scheduler")


class Scheduler:
    def __init__(self, billing: Billing, *, interval_s: float, batch_size: int):
        self.billing = billing
        self.interval_s = interval_s
        self.batch_size = batch_size
        self.renewed = 0
        self.expired = 0

    async def run_once(self) -> dict[str, int]:
        """Handle everything due now, one batch (one transaction) at a time."""
        total = {"renewed": 0, "expired": 0}
        while True:
            done = await expire_due(self.billing, self.batch_size)
            for key in total:
                total[key] += done[key]
            if done["renewed"] + done["expired"] < self.batch_size:
                break
        self.renewed += total["renewed"]
        self.expired += total["expired"]
        if any(total.values()):
            log.info("expiry: %(renewed)d renewed from the wallet, %(expired)d expired", total)
        return total

    async def run_forever(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.run_once()
            except Exception:  # a bad round is logged; the next round tries again
                log.exception("scheduler round failed")
            try:
                await asyncio.wait_for(stop.wait(), self.interval_s)
            except asyncio.TimeoutError:
                pass
