"""Wrong-PIN lock-outs and the failures counted towards them (migration 0016).

One row per key (``msisdn:+2547…`` or ``card:…``): ``failures`` counted in the window
that ends at ``window_until``, and the lock-out, if any, from ``locked_at`` to
``locked_until``. Rows are written only by conditional upserts and updates
(:mod:`billing_core.db.lockout_store`), so every gateway process over one database
sees one count. They outlive a Redis restart; Redis (or the in-process store) only
caches locks so that a locked phone is refused without a database write.
"""
from __future__ import annotations

from sqlalchemy import BigInteger, CheckConstraint, Column, Index, Integer, String, Table

from billing_core.db.schema import metadata

lockouts = Table(
    "lockouts",
    metadata,
    Column("key", String(40), primary_key=True),
    Column("failures", Integer, nullable=False, server_default="0"),
    Column("window_until", BigInteger, nullable=False, server_default="0"),
    Column("locked_at", BigInteger, nullable=True),
    Column("locked_until", BigInteger, nullable=False, server_default="0"),
    CheckConstraint("failures >= 0", name="failures_not_negative"),
    Index(None, "locked_until"),
    Index(None, "window_until"),
)

__all__ = ["lockouts"]
