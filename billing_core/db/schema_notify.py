"""Tables of the notification side (tv_notify): reminders sent, free days granted, worker leases.

They live on :data:`billing_core.db.schema.metadata`; migration 0004 creates them.
Times are integer seconds since the epoch (UTC).

- ``reminders``: one row per reminder sent, keyed by (subscriber, the expiry it
  announces, days before it); the unique key is what makes "once" hold across
  scheduler processes and restarts.
- ``day_grants``: free TV days given by an operator (outage, promotion): who, why,
  when, and the expiry before and after. The wallet is not touched.
- ``worker_leases``: one row per background job that must run in one process at a
  time (the scheduler); whoever holds an unexpired lease leads.

``outbox.sends`` (migration 0012) counts the deliveries of an event begun: each claim adds
one, so a delivery cut short by a crash (never recorded in ``attempts``) still counts, and
the attempt number receivers see goes up when a crashed delivery is sent again.
"""
from __future__ import annotations

from sqlalchemy import BigInteger, Column, ForeignKey, Index, Integer, String, Table, UniqueConstraint

from billing_core.db.schema import Id, metadata, outbox

outbox.append_column(Column("sends", Integer, nullable=False, server_default="0"))

reminders = Table(
    "reminders",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("subscriber_id", Id, ForeignKey("subscribers.id"), nullable=False),
    Column("expires_at", BigInteger, nullable=False),
    Column("days", Integer, nullable=False),
    Column("sent_at", BigInteger, nullable=False),
    UniqueConstraint("subscriber_id", "expires_at", "days"),
)

day_grants = Table(
    "day_grants",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("subscriber_id", Id, ForeignKey("subscribers.id"), nullable=False),
    Column("days", Integer, nullable=False),
    Column("reason", String(255), nullable=False),
    Column("created_by", String(64), nullable=False, server_default=""),
    Column("expires_before", BigInteger, nullable=True),
    Column("expires_after", BigInteger, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Index(None, "subscriber_id"),
    Index(None, "created_at"),
)

worker_leases = Table(
    "worker_leases",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("holder", String(96), nullable=False, server_default=""),
    Column("lease_until", BigInteger, nullable=False, server_default="0"),
)

__all__ = ["reminders", "day_grants", "worker_leases"]
