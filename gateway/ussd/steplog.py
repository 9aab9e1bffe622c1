"""The session log, written off the request path.

Each hop adds one :class:`~billing_core.db.ussd_store.StepRow` to a bounded queue; a
task writes what has gathered in one transaction every ``flush_s`` (or at
``batch_max`` rows) and prunes rows older than ``keep_days`` once an hour. A full
queue drops the row and counts it: the log must never slow a subscriber down. Rows
still queued when the process is killed are lost (they are support data, not money).
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Callable

from billing_core.db import ussd_store
from billing_core.db.database import Database
from billing_core.db.ussd_store import StepRow

log = logging.getLogger("tvtopup.ussd")
PRUNE_EVERY_S = 3600


class StepLog:
    def __init__(self, db: Database, *, keep_days: int, clock: Callable[[], int], queue_max: int = 20_000,
                 batch_max: int = 500, flush_s: float = 0.25):
        self.db = db
        self.keep_s = keep_days * 86_400
        self.clock = clock
        self.batch_max = batch_max
        self.flush_s = flush_s
        self.queue: asyncio.Queue[StepRow] = asyncio.Queue(queue_max)
        self.written = 0
        self.dropped = 0
        self._pruned_at = 0

    def add(self, row: StepRow) -> None:
        try:
            self.queue.put_nowait(row)
        except asyncio.QueueFull:
            self.dropped += 1

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), self.flush_s)
            await self.flush()
        await self.flush()

    async def flush(self) -> None:
        while not self.queue.empty():
            rows = [self.queue.get_nowait() for _ in range(min(self.batch_max, self.queue.qsize()))]
            try:
                await self.db.write(ussd_store.insert_steps, rows)
                self.written += len(rows)
            except Exception:  # noqa: BLE001 - the log must not take the gateway down
                self.dropped += len(rows)
                log.exception("USSD session log: %d steps not written", len(rows))
                return
        now = self.clock()
        if now - self._pruned_at >= PRUNE_EVERY_S:
            self._pruned_at = now
            with contextlib.suppress(Exception):
                await self.db.write(ussd_store.prune, now - self.keep_s)


__all__ = ["StepLog"]
