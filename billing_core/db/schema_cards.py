"""Tables of scratch cards: batches and cards (migration 0003).

A card's serial is not stored: it is the batch number (``card_batches.id``) and the
card's ``seq`` with a check digit (:func:`billing_core.pins.serial`). Its PIN is not
stored either, only ``HMAC-SHA256(key, pin)`` (``pin_hash``, unique) and the key's
version. ``state`` moves generated -> activated -> redeemed, or -> blocked; a card
past ``expires_at`` is expired whatever its stored state says (only ``activated``
and unexpired redeems).
"""
from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    ForeignKey,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Table,
    UniqueConstraint,
)

from billing_core.db.schema import Id, metadata

card_batches = Table(
    "card_batches",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),  # the batch number in serials
    Column("name", String(64), nullable=False, unique=True),
    Column("kind", String(8), nullable=False),
    Column("tvu", BigInteger, nullable=True),  # value of a TVU card
    Column("package_id", Id, ForeignKey("packages.id"), nullable=True),  # of a package card
    Column("count", Integer, nullable=False),
    Column("expires_at", BigInteger, nullable=True),
    Column("pin_length", SmallInteger, nullable=False),
    Column("key_version", SmallInteger, nullable=False),
    Column("state", String(12), nullable=False),
    Column("created_by", String(64), nullable=False, server_default=""),
    Column("created_at", BigInteger, nullable=False),
    Column("generated_at", BigInteger, nullable=True),  # the printer file was complete
    CheckConstraint("kind IN ('tvu', 'package')", name="kind"),
    CheckConstraint("state IN ('generating', 'generated')", name="state"),
    CheckConstraint("count > 0", name="count_positive"),
    CheckConstraint("(kind = 'tvu' AND tvu > 0 AND package_id IS NULL)"
                    " OR (kind = 'package' AND tvu IS NULL AND package_id IS NOT NULL)", name="value"),
)

cards = Table(
    "cards",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("batch_id", Id, ForeignKey("card_batches.id"), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("pin_hash", LargeBinary(32), nullable=False, unique=True),
    Column("key_version", SmallInteger, nullable=False),
    Column("state", String(10), nullable=False, server_default="generated"),
    Column("value_tvu", BigInteger, nullable=False, server_default="0"),  # fixed at activation
    Column("expires_at", BigInteger, nullable=True),
    Column("dealer", String(64), nullable=True),
    Column("activated_at", BigInteger, nullable=True),
    Column("blocked_at", BigInteger, nullable=True),
    Column("redeemed_at", BigInteger, nullable=True),
    Column("redeemed_msisdn", String(20), nullable=True),
    Column("redeemed_card", String(20), nullable=True),
    Column("redeemed_channel", String(16), nullable=True),
    Column("entry_id", Id, ForeignKey("journal_entries.id"), nullable=True),  # the redemption's entry
    UniqueConstraint("batch_id", "seq"),
    CheckConstraint("state IN ('generated', 'activated', 'redeemed', 'blocked')", name="state"),
    CheckConstraint("value_tvu >= 0", name="value_not_negative"),
)

__all__ = ["card_batches", "cards"]
