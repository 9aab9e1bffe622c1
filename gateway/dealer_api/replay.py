"""Replay protection of the dealer API: each signed request is good once, across processes.

Seen signatures are kept in the database (``billing_core.db.signature_store``), which every
gateway process shares and which survives a restart, for as long as their timestamp is
acceptable (``dealers.signature_window_s``). The very same request resent under the same
``Idempotency-Key`` passes, so that a client that lost a response gets the first one; a
captured request under another key, or none, is refused.

Housekeeping, at most once a minute per process: seen signatures older than the window
are pruned, and the Idempotency-Keys of top-ups older than ``dealers.idempotency_hours``
are released (the sale stays; the key may then name a new request).
"""
from __future__ import annotations

import logging

from billing_core.context import Billing
from billing_core.db import dealer_store, signature_store
from billing_core.db.signature_store import Seen

log = logging.getLogger("tvtopup.dealers")
HOUSEKEEPING_EVERY_S = 60


class SeenSignatures:
    """Admits signed requests once (see the module), and keeps the tables they use small."""

    def __init__(self, billing: Billing, window_s: int, idempotency_s: int, every_s: int = HOUSEKEEPING_EVERY_S):
        self._billing, self._window_s, self._idempotency_s, self._every_s = billing, window_s, idempotency_s, every_s
        self._next_at = 0

    async def admit(self, key_id: str, stamp: int, signature: str, idempotency_key: str) -> bool:
        """True when this request may go on (first seen, or the same request under the same key)."""
        now = self._billing.now()
        if now >= self._next_at:
            self._next_at = now + self._every_s
            await self._housekeeping(now)
        seen = Seen(key_id, signature.lower(), idempotency_key, stamp + self._window_s + 1)
        return await self._billing.db.write(signature_store.admit, seen)

    async def _housekeeping(self, now: int) -> None:
        try:
            pruned = await self._billing.db.write(signature_store.prune, now)
            released = await self._billing.db.write(dealer_store.release_idempotency_keys, now - self._idempotency_s)
        except Exception:  # housekeeping: the request is not refused for it
            log.warning("dealer API housekeeping failed; trying again in %d s", self._every_s, exc_info=True)
            return
        if pruned or released:
            log.debug("pruned %d seen dealer signatures, released %d idempotency keys", pruned, released)


__all__ = ["SeenSignatures"]
