"""Tables of pay-per-view and add-ons; ``packages.kind``. Migration 0009 creates them.

They live on :data:`billing_core.db.schema.metadata`. Times are integer seconds
since the epoch (UTC); prices are TVU.

- ``ppv_events``: one event on sale (code, title, its window, price, the CAS product
  that carries it), ``scheduled`` or ``cancelled``.
- ``ppv_purchases``: one row per card and event; the unique key is what makes a
  purchase happen once whatever the concurrency. ``revoked_at`` is set once, by a
  conditional UPDATE, by whoever revokes the entitlement (the scheduler after the
  end, or a cancellation); ``refunded_at`` likewise by the refund.
- ``subscriptions_addons``: one row per card and add-on package: its own expiry and
  status; ``aligned`` add-ons expire with the base package, the others have their
  own period.
- ``packages.kind``: ``base`` (what a subscriber renews) or ``addon`` (bought on top).
"""
from __future__ import annotations

from sqlalchemy import (BigInteger, Boolean, CheckConstraint, Column, ForeignKey, Index, String, Table,
                        UniqueConstraint)

from billing_core.db.schema import Id, metadata, packages

# The column belongs to ``packages`` (schema.py); it is added here, with the tables of the
# feature that needs it, so that one migration (0009) and one module describe it.
packages.append_column(Column("kind", String(8), nullable=False, server_default="base"))

PPV_STATUSES = ("scheduled", "cancelled")
ADDON_STATUSES = ("active", "expired")

ppv_events = Table(
    "ppv_events",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("code", String(32), nullable=False, unique=True),
    Column("title", String(64), nullable=False),
    Column("starts_at", BigInteger, nullable=False),
    Column("ends_at", BigInteger, nullable=False),
    Column("tvu", BigInteger, nullable=False),
    Column("product", String(64), nullable=False),
    Column("status", String(12), nullable=False, server_default="scheduled"),
    Column("created_at", BigInteger, nullable=False),
    Column("cancelled_at", BigInteger, nullable=True),
    CheckConstraint("ends_at > starts_at", name="window"),
    CheckConstraint("tvu > 0", name="tvu_positive"),
    CheckConstraint("status IN ('scheduled', 'cancelled')", name="status"),
    Index(None, "status", "starts_at"),
)

ppv_purchases = Table(
    "ppv_purchases",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("event_id", Id, ForeignKey("ppv_events.id"), nullable=False),
    Column("subscriber_id", Id, ForeignKey("subscribers.id"), nullable=False),
    Column("tvu", BigInteger, nullable=False),
    Column("channel", String(16), nullable=False),
    Column("msisdn", String(20), nullable=False, server_default=""),
    Column("entry_id", Id, ForeignKey("journal_entries.id"), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("revoked_at", BigInteger, nullable=True),
    Column("refunded_at", BigInteger, nullable=True),
    Column("refund_entry_id", Id, ForeignKey("journal_entries.id"), nullable=True),
    UniqueConstraint("subscriber_id", "event_id"),
    Index(None, "event_id"),
    Index(None, "revoked_at", "event_id"),
)

subscriptions_addons = Table(
    "subscriptions_addons",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("subscriber_id", Id, ForeignKey("subscribers.id"), nullable=False),
    Column("package_id", Id, ForeignKey("packages.id"), nullable=False),
    Column("expires_at", BigInteger, nullable=False),
    Column("status", String(12), nullable=False),
    Column("aligned", Boolean, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    UniqueConstraint("subscriber_id", "package_id"),
    CheckConstraint("status IN ('active', 'expired')", name="status"),
    Index(None, "status", "expires_at"),
)

__all__ = ["ppv_events", "ppv_purchases", "subscriptions_addons", "PPV_STATUSES", "ADDON_STATUSES"]
