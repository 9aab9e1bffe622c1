"""Tables of customer care and corrections (migration 0018 creates them).

They live on :data:`billing_core.db.schema.metadata`. Times are integer seconds since the
epoch (UTC); amounts integers in minor units or TVU.

- ``payment_corrections``: at most one per payment (``payment_id`` unique): a reversal
  (``reverse``), a bounced cheque (``bounce``) or a refund of a credited payment
  (``refund``). The unique key is what makes a second correction of one payment fail,
  whatever the concurrency; the ledger entries it wrote are named by id.
- ``cheques``: cheques recorded but held until they clear (``held`` -> ``cleared`` or
  ``bounced``); one row per reference. A held cheque moves no value; clearing it records
  the payment ``cheque:REF`` through the ordinary payment path.
- ``refunds``: money owed back to a payer (``payable``) until paid out (``paid``), with the
  reference of the payout.
- ``subscriber_care``: what customer care keeps of a subscriber beyond its core row: the
  operator's region, and a suspension or termination in force (when and why).
"""
from __future__ import annotations

from sqlalchemy import BigInteger, CheckConstraint, Column, ForeignKey, Index, String, Table, UniqueConstraint

from billing_core.db.schema import Id, metadata

payment_corrections = Table(
    "payment_corrections",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("payment_id", Id, ForeignKey("payments.id"), nullable=False, unique=True),
    Column("kind", String(12), nullable=False),
    Column("reason", String(255), nullable=False, server_default=""),
    Column("entry_id", Id, ForeignKey("journal_entries.id"), nullable=True),
    Column("renewal_entry_id", Id, ForeignKey("journal_entries.id"), nullable=True),
    Column("shortfall_tvu", BigInteger, nullable=False, server_default="0"),
    Column("created_by", String(64), nullable=False, server_default=""),
    Column("created_at", BigInteger, nullable=False),
    CheckConstraint("kind IN ('reverse', 'bounce', 'refund')", name="kind"),
    Index(None, "created_at"),
)

cheques = Table(
    "cheques",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("ref", String(64), nullable=False, unique=True),
    Column("card", String(20), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("status", String(12), nullable=False),
    Column("payment_id", Id, ForeignKey("payments.id"), nullable=True),
    Column("site", String(32), nullable=False, server_default=""),
    Column("reason", String(255), nullable=False, server_default=""),
    Column("created_by", String(64), nullable=False, server_default=""),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    CheckConstraint("status IN ('held', 'cleared', 'bounced')", name="status"),
    CheckConstraint("amount_minor > 0", name="amount_positive"),
    Index(None, "status", "created_at"),
)

refunds = Table(
    "refunds",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("payment_id", Id, ForeignKey("payments.id"), nullable=False),
    Column("card", String(20), nullable=True),
    Column("method", String(24), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("status", String(12), nullable=False),
    Column("entry_id", Id, ForeignKey("journal_entries.id"), nullable=True),
    Column("paid_ref", String(64), nullable=True),
    Column("paid_entry_id", Id, ForeignKey("journal_entries.id"), nullable=True),
    Column("requested_by", String(64), nullable=False, server_default=""),
    Column("requested_at", BigInteger, nullable=False),
    Column("paid_by", String(64), nullable=True),
    Column("paid_at", BigInteger, nullable=True),
    UniqueConstraint("payment_id"),
    CheckConstraint("status IN ('payable', 'paid')", name="status"),
    CheckConstraint("amount_minor > 0", name="amount_positive"),
    Index(None, "status", "requested_at"),
)

subscriber_care = Table(
    "subscriber_care",
    metadata,
    Column("subscriber_id", Id, ForeignKey("subscribers.id"), primary_key=True),
    Column("region", String(32), nullable=False, server_default=""),
    Column("suspended_at", BigInteger, nullable=True),
    Column("suspend_reason", String(255), nullable=False, server_default=""),
    Column("terminated_at", BigInteger, nullable=True),
    Column("terminate_reason", String(255), nullable=False, server_default=""),
    Column("updated_at", BigInteger, nullable=False),
    Index(None, "region"),
)

__all__ = ["payment_corrections", "cheques", "refunds", "subscriber_care"]
