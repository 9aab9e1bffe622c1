"""The table of outgoing SMS and their delivery status: ``sms_messages``.

It lives on :data:`billing_core.db.schema.metadata`; migration 0006 creates it.
Times are integer seconds since the epoch (UTC).

One row per part of one outbox event of kind ``sms.send``: the key is
(``event_id``, ``part``), so a retried event finds the parts it already sent and
sends only the others. ``status`` moves ``queued`` -> ``sent`` (the provider took
it and gave its ``provider_message_id``) -> ``delivered`` or ``failed`` (a delivery
report). ``message_ref`` is the provider's id normalised for matching receipts
(see :func:`billing_core.db.sms_store.message_ref`); it is unique per provider, so
a receipt updates exactly one row.
"""
from __future__ import annotations

from sqlalchemy import BigInteger, CheckConstraint, Column, Index, Integer, String, Table, UniqueConstraint

from billing_core.db.schema import Id, metadata

QUEUED, SENT, DELIVERED, FAILED = "queued", "sent", "delivered", "failed"
STATUSES = (QUEUED, SENT, DELIVERED, FAILED)

sms_messages = Table(
    "sms_messages",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("event_id", String(36), nullable=False),
    Column("part", Integer, nullable=False),
    Column("parts", Integer, nullable=False),
    Column("provider", String(16), nullable=False),
    Column("msisdn", String(20), nullable=False),
    Column("status", String(10), nullable=False, server_default=QUEUED),
    Column("provider_message_id", String(64), nullable=True),
    Column("message_ref", String(64), nullable=True),
    Column("receipt_state", String(16), nullable=False, server_default=""),
    Column("error", String(255), nullable=False, server_default=""),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("sent_at", BigInteger, nullable=True),
    Column("done_at", BigInteger, nullable=True),
    UniqueConstraint("event_id", "part"),
    UniqueConstraint("provider", "message_ref"),
    CheckConstraint("status IN ('queued', 'sent', 'delivered', 'failed')", name="status"),
    Index(None, "status", "updated_at"),
)

__all__ = ["sms_messages", "STATUSES", "QUEUED", "SENT", "DELIVERED", "FAILED"]
