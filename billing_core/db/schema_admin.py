"""Tables of the operator's web pages: who may log in, their sessions, and what they did.

They live on :data:`billing_core.db.schema.metadata`; migration 0008 creates them.
Times are integer seconds since the epoch (UTC).

- ``admin_users``: one row per operator user. ``password_hash`` is a self-describing
  scrypt hash (``scrypt$N$r$p$salt$hash``, per-user random salt); no password is stored.
  ``role`` is ``viewer`` < ``operator`` < ``admin``.
- ``admin_sessions``: one row per login. The browser holds a random token; the table
  holds only its SHA-256 (``token_hash``, unique), so a copy of the database opens no
  session. A session is valid until ``expires_at``; logging out deletes it.
- ``audit_log``: one row per action that moves value or grants access (assign a held
  payment, retry an event, log in), with who, when, what and the details as JSON.
"""
from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, CheckConstraint, Column, ForeignKey, Index, String, Table, Text

from billing_core.db.schema import Id, metadata

ROLES = ("viewer", "operator", "admin")

admin_users = Table(
    "admin_users",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("role", String(12), nullable=False),
    Column("password_hash", String(255), nullable=False),
    Column("disabled", Boolean, nullable=False, server_default="0"),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    CheckConstraint("role IN ('viewer', 'operator', 'admin')", name="role"),
)

admin_sessions = Table(
    "admin_sessions",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("user_id", Id, ForeignKey("admin_users.id"), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False),
    Column("ip", String(64), nullable=False, server_default=""),
    Index(None, "user_id"),
    Index(None, "expires_at"),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("at", BigInteger, nullable=False),
    Column("actor", String(64), nullable=False),
    Column("action", String(32), nullable=False),
    Column("target", String(128), nullable=False, server_default=""),
    Column("details", Text, nullable=False, server_default="{}"),
    Column("ip", String(64), nullable=False, server_default=""),
    Index(None, "at"),
    Index(None, "action", "at"),
)

__all__ = ["ROLES", "admin_users", "admin_sessions", "audit_log"]
