"""Tables of the dealer channel. They live on :data:`billing_core.db.schema.metadata`;
migration 0007 creates them. Times are epoch seconds (UTC), money integer minor units
of the dealer's currency.

- ``dealers``: one row per dealer (a master has sub-dealers through ``parent_id``). The
  float is ``balance_minor`` with ``CHECK balance_minor >= 0``: it only ever moves by a
  conditional ``UPDATE … WHERE balance_minor >= :x``, so no concurrency can overspend
  it. The ledger's ``float:ID`` account mirrors it entry by entry.
- ``dealer_sites``: the sales points of a dealer, with their region.
- ``dealer_keys``: API key ids; the secret of a key is derived from it and
  ``dealers.secret_key`` (never stored). A key is valid while ``revoked_at`` is NULL.
- ``dealer_commissions``: a commission for one package, over the dealer's default.
- ``dealer_topups``: one row per sale; ``(dealer_id, idempotency_key)`` is unique, and the
  row is inserted first in the sale's transaction, so a repeated or concurrent request
  with the same key never sells twice. The response is stored with a hash of the body.
- ``dealer_days``: what a dealer sold per day (operator's time zone), kept only for
  dealers with a daily limit; the limit holds by a conditional ``UPDATE`` too.
- ``dealer_signatures``: every request signature the API accepted, while its timestamp is
  still within ``dealers.signature_window_s`` (``expires_at``; older rows are pruned).
  The signature is the primary key, so of any number of processes, before or after a
  restart, one request is first; a later copy is refused unless it is the very same
  request under the same ``Idempotency-Key`` (a client resending after a lost response).
  Migration 0017 creates it.
"""
from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, CheckConstraint, Column, ForeignKey, Index, Integer, String, Table, Text
from sqlalchemy import UniqueConstraint

from billing_core.db.schema import Id, metadata

dealers = Table(
    "dealers",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("name", String(128), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("commission_bp", Integer, nullable=False, server_default="0"),  # basis points of face value
    Column("parent_id", Id, ForeignKey("dealers.id"), nullable=True),
    Column("status", String(12), nullable=False, server_default="active"),
    Column("balance_minor", BigInteger, nullable=False, server_default="0"),
    Column("daily_limit_minor", BigInteger, nullable=True),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    CheckConstraint("balance_minor >= 0", name="float_not_negative"),
    CheckConstraint("commission_bp >= 0 AND commission_bp <= 10000", name="commission"),
    CheckConstraint("status IN ('active', 'suspended')", name="status"),
    CheckConstraint("daily_limit_minor IS NULL OR daily_limit_minor > 0", name="daily_limit"),
    Index(None, "parent_id"),
)

dealer_sites = Table(
    "dealer_sites",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("dealer_id", Id, ForeignKey("dealers.id"), nullable=False),
    Column("name", String(64), nullable=False),
    Column("region", String(64), nullable=False, server_default=""),
    Column("created_at", BigInteger, nullable=False),
    UniqueConstraint("dealer_id", "name"),
)

dealer_keys = Table(
    "dealer_keys",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),  # the order keys were made in
    Column("key_id", String(40), nullable=False, unique=True),
    Column("dealer_id", Id, ForeignKey("dealers.id"), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("revoked_at", BigInteger, nullable=True),
    Index(None, "dealer_id"),
)

dealer_commissions = Table(
    "dealer_commissions",
    metadata,
    Column("dealer_id", Id, ForeignKey("dealers.id"), primary_key=True),
    Column("package_id", Id, ForeignKey("packages.id"), primary_key=True),
    Column("commission_bp", Integer, nullable=False),
    CheckConstraint("commission_bp >= 0 AND commission_bp <= 10000", name="commission"),
)

dealer_topups = Table(
    "dealer_topups",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("dealer_id", Id, ForeignKey("dealers.id"), nullable=False),
    Column("idempotency_key", String(64), nullable=False),
    Column("request_hash", String(64), nullable=False),
    Column("card", String(20), nullable=False),
    Column("kind", String(8), nullable=False),
    Column("package_code", String(32), nullable=True),
    Column("tvu", BigInteger, nullable=False, server_default="0"),
    Column("face_minor", BigInteger, nullable=False, server_default="0"),
    Column("commission_minor", BigInteger, nullable=False, server_default="0"),
    Column("currency", String(3), nullable=False),
    Column("site", String(64), nullable=False, server_default=""),
    Column("key_id", String(40), nullable=False),
    Column("status", String(10), nullable=False, server_default="pending"),
    Column("renewed", Boolean, nullable=False, server_default="0"),
    Column("entry_id", Id, ForeignKey("journal_entries.id"), nullable=True),
    Column("response_status", Integer, nullable=False, server_default="0"),
    Column("response", Text, nullable=False, server_default=""),
    Column("created_at", BigInteger, nullable=False),
    Column("reversed_at", BigInteger, nullable=True),
    Column("reversal_entry_id", Id, ForeignKey("journal_entries.id"), nullable=True),
    Column("reversal_reason", String(255), nullable=False, server_default=""),
    UniqueConstraint("dealer_id", "idempotency_key"),
    CheckConstraint("kind IN ('tvu', 'package', 'amount')", name="kind"),
    CheckConstraint("status IN ('pending', 'done', 'reversed')", name="status"),
    CheckConstraint("commission_minor >= 0 AND commission_minor <= face_minor", name="commission"),
    Index(None, "dealer_id", "created_at"),
    Index(None, "created_at"),
)

dealer_days = Table(
    "dealer_days",
    metadata,
    Column("dealer_id", Id, ForeignKey("dealers.id"), primary_key=True),
    Column("day", String(10), primary_key=True),  # YYYY-MM-DD in operator.timezone
    Column("sold_minor", BigInteger, nullable=False, server_default="0"),
)

dealer_signatures = Table(
    "dealer_signatures",
    metadata,
    Column("signature", String(64), primary_key=True),  # lower-case hex; it covers key id, timestamp and body
    Column("key_id", String(40), nullable=False),
    Column("idempotency_key", String(64), nullable=False, server_default=""),  # "" for a GET
    Column("expires_at", BigInteger, nullable=False),
    Index(None, "expires_at"),
)

__all__ = ["dealers", "dealer_sites", "dealer_keys", "dealer_commissions", "dealer_topups", "dealer_days",
           "dealer_signatures"]
