"""The outbox dispatcher: delivers stored events to their adapters, at least once, in order.

Each event kind is routed to one adapter (entitlements and on-screen messages to
the TV adapter, ``sms.send`` to the SMS sender). A *lane* is one adapter and one
card: within a lane events are delivered strictly one after another in outbox
order; lanes run in parallel (at most ``concurrency`` at once). A lane whose event
fails stops for this batch and stays held back until the retry is due
(``outbox_store.claim`` does the holding back), so a card's later events never
overtake an earlier one. An SMS outage does not hold back entitlements, and the
other way round.

A failed attempt is retried after ``retry_first_s * 2**attempts_before``, capped
at ``retry_max_s``. After ``retries_max`` retries (so ``retries_max + 1`` failed
attempts), or at once when the adapter says the event itself is refused
(``DeliveryError(retryable=False)``), the event becomes ``dead``: kept, counted
and shown to operators, never dropped silently. A dead event no longer holds its
lane back.

Several dispatchers (processes) share one database. A batch begins with a *claim*
(``outbox_store.claim``): one transaction that leases the due events to this
dispatcher (``claimed_by``, ``lease_until = now + lease_s``; on PostgreSQL read
``FOR UPDATE SKIP LOCKED``), never taking a card's event while an earlier one of
that card is leased elsewhere or waiting for a retry. While the batch is in
flight its leases are extended every ``lease_s / 3``; the batch ends with one
write of every outcome, which clears the leases (events after a lane's failure
are released untried). So no event is in flight in two dispatchers at once, and
each card's events go out one after another whichever process sends them.

A crash between delivering and recording means those events are delivered again
once their lease expires (within ``lease_s``); receivers de-duplicate by event id
(see ``tv_notify.adapters.base``). At start a dispatcher brings every retry due
later than ``retry_first_s`` forward to that, so after a restart pending events
resume within ``max(lease_s, retry_first_s) + poll_s``, under the contract's 30 s
with the defaults.
"""
from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from billing_core.db import outbox_store
from billing_core.db.database import Database
from billing_core.db.outbox_store import StoredEvent
from tv_notify.adapters import sms_sender, tv_adapter
from tv_notify.adapters.base import DeliveryError, SmsSender, TvAdapter
from tv_notify.events import GRANT, KINDS, OSD, REVOKE, SMS

log = logging.getLogger("tvtopup.outbox")

Adapter = TvAdapter | SmsSender
CONCURRENCY = 16
LEASE_S = 6  # renewed every LEASE_S / 3: a dead dispatcher's events are taken over within seconds
_EXPONENT_MAX = 32  # 2**32 s is already past any cap; keeps the integer small


@dataclass(frozen=True, slots=True)
class Outcome:
    """One delivery attempt: ``error`` is None when the event was delivered."""

    event: StoredEvent
    error: DeliveryError | None


class Dispatcher:
    """Delivers due outbox events; ``delivered``, ``failed``, ``dead`` and ``backlog`` are for metrics.

    - ``delivered``: events delivered by this process;
    - ``failed``: failed attempts (an event retried three times counts three);
    - ``dead``: events this process gave up on;
    - ``backlog``: events claimed by the last batch (at most ``batch_size`` per adapter).

    ``holder`` names this dispatcher in the leases it takes (default: host, process
    id and a random part, unique per instance).
    """

    def __init__(self, db: Database, adapters: Mapping[str, Adapter], *, clock: Callable[[], int],
                 retry_first_s: int, retry_max_s: int, retries_max: int, batch_size: int,
                 poll_s: float, timeout_s: float, concurrency: int = CONCURRENCY, lease_s: int = LEASE_S,
                 holder: str | None = None) -> None:
        missing = [kind for kind in KINDS if kind not in adapters]
        if missing:
            raise ValueError(f"no adapter for event kinds: {', '.join(missing)}")
        self._db = db
        self._adapters = dict(adapters)
        self._lanes = _lanes(self._adapters)
        self._clock = clock
        self._retry_first_s, self._retry_max_s, self._retries_max = retry_first_s, retry_max_s, retries_max
        self._batch_size, self._poll_s, self._timeout_s = batch_size, poll_s, timeout_s
        self._lease_s = lease_s
        self.holder = holder or default_holder()
        self._slots = asyncio.Semaphore(concurrency)
        self._wake = asyncio.Event()
        self.delivered = 0
        self.failed = 0
        self.dead = 0
        self.backlog = 0

    @classmethod
    def from_settings(cls, settings: Any, db: Database, clock: Callable[[], int], *,
                      session: Any = None, holder: str | None = None, smpp_link: Any = None) -> Dispatcher:
        """The dispatcher ``[tv]``, ``[sms]`` and ``[outbox]`` describe.

        ``session`` is the application's outbound ``aiohttp.ClientSession`` (adapters
        that speak HTTP open their own when it is None, and close it). The caller
        registers :meth:`wake` with ``db.add_commit_listener(…, signal=outbox_store.ENQUEUED)``. ``smpp_link`` returns the
        process's SMPP link (see ``tv_notify.adapters.sms_sender``).
        """
        tv, outbox = settings.tv, settings.outbox
        tv_side = tv_adapter(settings, session)
        sms_side = sms_sender(settings, session, db=db, clock=clock, smpp_link=smpp_link)
        adapters = {GRANT: tv_side, REVOKE: tv_side, OSD: tv_side, SMS: sms_side}
        return cls(db, adapters, clock=clock, retry_first_s=tv.retry_first_s, retry_max_s=tv.retry_max_s,
                   retries_max=tv.retries_max, batch_size=outbox.batch_size, poll_s=outbox.poll_s,
                   timeout_s=tv.timeout_s, lease_s=outbox.lease_s, holder=holder)

    def wake(self) -> None:
        """Look for due events now rather than at the next poll.

        Call it from the event loop's thread only (``asyncio.Event`` is not
        thread-safe); ``Database`` runs its commit listeners there, after the commit.
        """
        self._wake.set()

    async def run_once(self) -> int:
        """Deliver one batch of due events; returns how many were attempted (0: nothing due)."""
        batch = await self._db.write(self._claim, self._clock())
        claimed = [event for _, events in batch for event in events]
        self.backlog = len(claimed)
        if not claimed:
            return 0
        lanes = [(adapter, lane) for adapter, events in batch for lane in _by_card(events)]
        heartbeat = asyncio.create_task(self._heartbeat([e.id for e in claimed]))
        try:
            results = await asyncio.gather(*(self._deliver_lane(adapter, lane) for adapter, lane in lanes))
        finally:
            heartbeat.cancel()
            await asyncio.gather(heartbeat, return_exceptions=True)
        outcomes = [outcome for result in results for outcome in result]
        untried = {e.id for e in claimed} - {o.event.id for o in outcomes}
        dead = await self._db.write(self._record, outcomes, untried, self._clock())
        failures = sum(1 for o in outcomes if o.error is not None)
        self.delivered += len(outcomes) - failures
        self.failed += failures
        self.dead += dead
        return len(outcomes)

    async def resume(self) -> int:
        """At start: retries due later than ``retry_first_s`` from now are due then; returns how many."""
        now = self._clock()
        return await self._db.write(outbox_store.resume, now, now + self._retry_first_s)

    async def run_forever(self, stop: asyncio.Event) -> None:
        """Deliver until ``stop`` is set; between empty batches, sleep until woken or ``poll_s``.

        Woken by: :meth:`wake` (the caller registers it for this process's enqueues), a
        notice from another process (``Database.listen``: PostgreSQL), or the ``poll_s``
        timer (retries coming due, expired leases, other processes on SQLite). Its own
        claims and outcomes wake nothing, so an idle dispatcher makes one claim per ``poll_s``.
        """
        try:
            resumed = await self.resume()
            if resumed:
                log.info("outbox: %d pending retries brought forward at start", resumed)
        except Exception:
            log.exception("outbox: could not bring retries forward at start")
        async with self._db.listen(outbox_store.CHANNEL, self.wake):
            await self._loop(stop)

    async def _loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self._wake.clear()  # commits from here on wake the next wait
            try:
                attempted = await self.run_once()
            except Exception:  # the database may be away; try again at the next poll
                log.exception("outbox batch failed")
                attempted = 0
            if not attempted:
                await self._idle(stop)

    async def close(self) -> None:
        """Close every adapter once."""
        for adapter in {id(a): a for a in self._adapters.values()}.values():
            try:
                await adapter.close()
            except Exception:
                log.exception("closing %s failed", type(adapter).__name__)

    def retry_delay_s(self, attempts_before: int) -> int:
        """Wait before the next attempt, after a failure with ``attempts_before`` earlier attempts."""
        return min(self._retry_first_s * 2 ** min(attempts_before, _EXPONENT_MAX), self._retry_max_s)

    def _claim(self, conn: Any, now: int) -> list[tuple[Adapter, list[StoredEvent]]]:
        return [(adapter, outbox_store.claim(conn, now, self._batch_size, kinds, self.holder, self._lease_s))
                for adapter, kinds in self._lanes]

    async def _heartbeat(self, ids: list[int]) -> None:
        """Keep this batch's leases alive while it is in flight (a slow receiver, many lanes)."""
        every_s = max(self._lease_s / 3, 0.1)
        while True:
            await asyncio.sleep(every_s)
            try:
                await self._db.write(outbox_store.extend, ids, self.holder, self._clock() + self._lease_s)
            except Exception:  # the database may be away; the next beat tries again
                log.exception("outbox: extending leases failed")

    async def _deliver_lane(self, adapter: Adapter, events: list[StoredEvent]) -> list[Outcome]:
        """Deliver one card's events to one adapter in order, stopping at the first failure."""
        outcomes: list[Outcome] = []
        async with self._slots:
            for event in events:
                error = await self._attempt(adapter, event)
                outcomes.append(Outcome(event, error))
                if error is not None:
                    break
        return outcomes

    async def _attempt(self, adapter: Adapter, event: StoredEvent) -> DeliveryError | None:
        try:
            await asyncio.wait_for(adapter.deliver(event), self._timeout_s)
        except DeliveryError as exc:
            return exc
        except TimeoutError:
            return DeliveryError(f"timed out after {self._timeout_s:g} s")
        except Exception as exc:  # an adapter bug must not stop the other lanes
            log.exception("adapter %s raised on event %s", type(adapter).__name__, event.event_id)
            return DeliveryError(f"{type(exc).__name__}: {exc}")
        return None

    def _record(self, conn: Any, outcomes: list[Outcome], untried: set[int], now: int) -> int:
        """Store every outcome of a batch in one transaction; returns how many events died."""
        outbox_store.mark_delivered(conn, [o.event.id for o in outcomes if o.error is None], now)
        outbox_store.release(conn, untried, self.holder)
        dead = 0
        for outcome in outcomes:
            if outcome.error is not None:
                dead += self._record_failure(conn, outcome.event, outcome.error, now)
        return dead

    def _record_failure(self, conn: Any, event: StoredEvent, error: DeliveryError, now: int) -> int:
        attempts = event.attempts + 1
        is_dead = not error.retryable or attempts > self._retries_max
        delay_s = self.retry_delay_s(event.attempts)
        outbox_store.mark_failed(conn, event.id, now, now + delay_s, error.reason, is_dead, holder=self.holder)
        if is_dead:
            log.error("event dead after %d attempts: id=%s event=%s card=%s: %s",
                      attempts, event.event_id, event.kind, event.card, error.reason)
        else:
            log.warning("delivery failed (attempt %d, retry in %d s): id=%s event=%s card=%s: %s",
                        attempts, delay_s, event.event_id, event.kind, event.card, error.reason)
        return int(is_dead)

    async def _idle(self, stop: asyncio.Event) -> None:
        waits = [asyncio.ensure_future(self._wake.wait()), asyncio.ensure_future(stop.wait())]
        try:
            await asyncio.wait(waits, timeout=self._poll_s, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()
            await asyncio.gather(*waits, return_exceptions=True)


def _lanes(adapters: Mapping[str, Adapter]) -> list[tuple[Adapter, tuple[str, ...]]]:
    """The kinds each distinct adapter serves: order is kept per card within one adapter."""
    kinds: dict[int, tuple[Adapter, list[str]]] = {}
    for kind, adapter in adapters.items():
        kinds.setdefault(id(adapter), (adapter, []))[1].append(kind)
    return [(adapter, tuple(served)) for adapter, served in kinds.values()]


def _by_card(events: list[StoredEvent]) -> list[list[StoredEvent]]:
    """Events grouped by card, each group in outbox order."""
    cards: dict[str, list[StoredEvent]] = {}
    for event in events:
        cards.setdefault(event.card, []).append(event)
    return list(cards.values())


def default_holder() -> str:
    """``host:pid:random``: unique per dispatcher, readable in ``events show``."""
    return f"{socket.gethostname()[:48]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


__all__ = ["Dispatcher", "Outcome", "default_holder"]
