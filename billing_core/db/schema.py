"""Tables of the billing core (SQLAlchemy Core). Alembic migrations create them.

Times are integer seconds since the epoch (UTC); amounts are integers (minor units
or TVU), debits positive. Balances live in ``account_balances``: one row for an
account that must never be overdrawn (a wallet: credit balance, ``CHECK balance <= 0``),
several "slots" for busy system accounts so that concurrent transactions on
PostgreSQL do not queue on one row; an account's balance is the sum of its slots.
"""
from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

# SQLite only auto-increments an INTEGER PRIMARY KEY.
Id = BigInteger().with_variant(Integer(), "sqlite")

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

accounts = Table(
    "accounts",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("code", String(64), nullable=False),
    Column("unit", String(3), nullable=False),
    Column("slots", Integer, nullable=False, server_default="1"),
    Column("credit_only", Boolean, nullable=False, server_default="0"),
    Column("created_at", BigInteger, nullable=False),
    UniqueConstraint("code", "unit"),
)

account_balances = Table(
    "account_balances",
    metadata,
    Column("account_id", Id, ForeignKey("accounts.id"), primary_key=True),
    Column("slot", Integer, primary_key=True),
    Column("balance", BigInteger, nullable=False, server_default="0"),
    Column("credit_only", Boolean, nullable=False, server_default="0"),
    CheckConstraint("NOT credit_only OR balance <= 0", name="no_overdraft"),
)

journal_entries = Table(
    "journal_entries",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("kind", String(32), nullable=False),
    Column("ref", String(128), nullable=False, server_default=""),
    Column("memo", String(255), nullable=False, server_default=""),
    Column("reverses_id", Id, ForeignKey("journal_entries.id"), nullable=True, unique=True),
    Column("created_by", String(64), nullable=False, server_default=""),
    Column("created_at", BigInteger, nullable=False),
    Index(None, "ref"),
    Index(None, "created_at"),
)

postings = Table(
    "postings",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("entry_id", Id, ForeignKey("journal_entries.id"), nullable=False),
    Column("account_id", Id, ForeignKey("accounts.id"), nullable=False),
    Column("amount", BigInteger, nullable=False),
    CheckConstraint("amount <> 0", name="nonzero"),
    Index(None, "entry_id"),
    Index(None, "account_id"),
)

packages = Table(
    "packages",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("code", String(32), nullable=False, unique=True),
    Column("name", String(128), nullable=False),
    Column("days", Integer, nullable=False),
    Column("tvu", BigInteger, nullable=False),
    Column("products", String(255), nullable=False, server_default=""),
    Column("active", Boolean, nullable=False, server_default="1"),
    Column("created_at", BigInteger, nullable=False),
    CheckConstraint("days > 0", name="days_positive"),
    CheckConstraint("tvu >= 0", name="tvu_not_negative"),
)

subscribers = Table(
    "subscribers",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("card", String(20), nullable=False, unique=True),
    Column("msisdn", String(20), nullable=False),
    Column("name", String(128), nullable=False, server_default=""),
    Column("lang", String(5), nullable=False),
    Column("package_id", Id, ForeignKey("packages.id"), nullable=True),
    Column("status", String(16), nullable=False),
    Column("expires_at", BigInteger, nullable=True),
    Column("wallet_account_id", Id, ForeignKey("accounts.id"), nullable=False, unique=True),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("last_refresh_at", BigInteger, nullable=True),  # decoder refresh rate limit (tv_notify)
    CheckConstraint("status IN ('new', 'active', 'expired', 'suspended')", name="status"),
    Index(None, "msisdn"),
    Index(None, "status", "expires_at"),
)

renewals = Table(
    "renewals",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("subscriber_id", Id, ForeignKey("subscribers.id"), nullable=False),
    Column("package_id", Id, ForeignKey("packages.id"), nullable=False),
    Column("starts_at", BigInteger, nullable=False),
    Column("ends_at", BigInteger, nullable=False),
    Column("tvu", BigInteger, nullable=False),
    Column("reason", String(16), nullable=False),
    Column("entry_id", Id, ForeignKey("journal_entries.id"), nullable=True),
    Column("created_at", BigInteger, nullable=False),
    Index(None, "subscriber_id"),
    Index(None, "created_at"),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("event_id", String(36), nullable=False, unique=True),
    Column("kind", String(32), nullable=False),
    Column("card", String(20), nullable=False, server_default=""),
    Column("payload", Text, nullable=False),
    Column("status", String(12), nullable=False, server_default="pending"),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", BigInteger, nullable=False, server_default="0"),
    Column("last_error", String(500), nullable=False, server_default=""),
    Column("created_at", BigInteger, nullable=False),
    Column("delivered_at", BigInteger, nullable=True),
    Column("claimed_by", String(96), nullable=True),  # the dispatcher delivering it until lease_until
    Column("lease_until", BigInteger, nullable=True),
    CheckConstraint("status IN ('pending', 'delivered', 'dead')", name="status"),
    Index(None, "status", "id"),
    Index(None, "card", "id"),
)

payments = Table(
    "payments",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("provider", String(24), nullable=False),
    Column("provider_txid", String(64), nullable=False),
    Column("account_ref", String(40), nullable=False, server_default=""),
    Column("card", String(20), nullable=True),
    Column("msisdn", String(20), nullable=False, server_default=""),
    Column("amount_minor", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("tvu", BigInteger, nullable=False, server_default="0"),
    Column("status", String(12), nullable=False),
    Column("reason", String(32), nullable=False, server_default=""),
    Column("entry_id", Id, ForeignKey("journal_entries.id"), nullable=True),
    Column("renewed", Boolean, nullable=False, server_default="0"),
    Column("site", String(32), nullable=False, server_default=""),
    Column("created_by", String(64), nullable=False, server_default=""),
    Column("received_at", BigInteger, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("raw", Text, nullable=False, server_default=""),
    UniqueConstraint("provider", "provider_txid"),
    CheckConstraint("status IN ('credited', 'suspense', 'assigned', 'refund')", name="status"),
    CheckConstraint("amount_minor >= 0", name="amount_not_negative"),
    Index(None, "status", "created_at"),
    Index(None, "card", "created_at"),
    Index(None, "created_at"),
)

# A transaction id seen again with another amount or account: nothing more is credited,
# the repeat is kept here for the operator (once per distinct amount and account).
payment_conflicts = Table(
    "payment_conflicts",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("payment_id", Id, ForeignKey("payments.id"), nullable=False),
    Column("provider", String(24), nullable=False),
    Column("provider_txid", String(64), nullable=False),
    Column("account_ref", String(40), nullable=False, server_default=""),
    Column("msisdn", String(20), nullable=False, server_default=""),
    Column("amount_minor", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("received_at", BigInteger, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("raw", Text, nullable=False, server_default=""),
    UniqueConstraint("payment_id", "account_ref", "amount_minor", "currency", name="uq_payment_conflicts_repeat"),
    Index(None, "created_at"),
)

payment_requests = Table(
    "payment_requests",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("provider", String(24), nullable=False),
    Column("reference", String(64), nullable=False, unique=True),
    Column("provider_ref", String(64), nullable=True),
    Column("card", String(20), nullable=False),
    Column("msisdn", String(20), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("status", String(12), nullable=False, server_default="pending"),
    Column("result_code", String(16), nullable=False, server_default=""),
    Column("result_desc", String(255), nullable=False, server_default=""),
    Column("payment_id", Id, ForeignKey("payments.id"), nullable=True),
    Column("polls", Integer, nullable=False, server_default="0"),
    Column("next_poll_at", BigInteger, nullable=False, server_default="0"),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    UniqueConstraint("provider", "provider_ref"),
    CheckConstraint("status IN ('pending', 'successful', 'failed')", name="status"),
    Index(None, "status", "next_poll_at"),
)

from billing_core.db import schema_cards  # noqa: E402,F401
from billing_core.db import schema_dealers  # noqa: E402,F401
from billing_core.db import schema_notify  # noqa: E402,F401
from billing_core.db import schema_sms  # noqa: E402,F401
from billing_core.db import schema_ussd  # noqa: E402,F401
from billing_core.db import schema_admin  # noqa: E402,F401
from billing_core.db import schema_ppv  # noqa: E402,F401
from billing_core.db import schema_stock  # noqa: E402,F401
from billing_core.db import schema_lockouts  # noqa: E402,F401
from billing_core.db import schema_care  # noqa: E402,F401
