"""Operator users, their sessions and the audit log in the database (tables of schema_admin),
and the read-outs the subscriber page needs that no other store offers."""
from __future__ import annotations

import json
from dataclasses import dataclass

from sqlalchemy import Connection, delete, select, update

from billing_core.db.dialect import insert_ignore
from billing_core.db.schema import outbox, packages, renewals, subscribers
from billing_core.db.schema_admin import admin_sessions, admin_users, audit_log
from billing_core.db.schema_sms import sms_messages
from billing_core.errors import AlreadyExists, NotFound


@dataclass(frozen=True, slots=True)
class AdminUser:
    id: int
    name: str
    role: str
    password_hash: str
    disabled: bool
    created_at: int

    def to_json(self) -> dict:
        return {"id": self.id, "name": self.name, "role": self.role, "disabled": self.disabled}


def _user(row) -> AdminUser:
    return AdminUser(row.id, row.name, row.role, row.password_hash, bool(row.disabled), row.created_at)


def insert_user(conn: Connection, name: str, role: str, password_hash: str, now: int) -> AdminUser:
    inserted = conn.execute(insert_ignore(conn, admin_users, "name").values(
        name=name, role=role, password_hash=password_hash, created_at=now, updated_at=now)
        .returning(admin_users.c.id)).scalar_one_or_none()
    if inserted is None:
        raise AlreadyExists(f"an operator user {name!r} exists")
    return user_by_name(conn, name)


def user_by_name(conn: Connection, name: str) -> AdminUser:
    row = conn.execute(select(admin_users).where(admin_users.c.name == name)).one_or_none()
    if row is None:
        raise NotFound(f"no operator user {name!r}")
    return _user(row)


def find_user(conn: Connection, name: str) -> AdminUser | None:
    row = conn.execute(select(admin_users).where(admin_users.c.name == name)).one_or_none()
    return None if row is None else _user(row)


def list_users(conn: Connection) -> list[AdminUser]:
    return [_user(r) for r in conn.execute(select(admin_users).order_by(admin_users.c.name)).all()]


def update_user(conn: Connection, name: str, now: int, **values) -> AdminUser:
    """Set ``role``, ``password_hash`` or ``disabled``; a disabled user's sessions end."""
    user = user_by_name(conn, name)
    conn.execute(update(admin_users).where(admin_users.c.id == user.id).values(updated_at=now, **values))
    if values.get("disabled") or "password_hash" in values:
        conn.execute(delete(admin_sessions).where(admin_sessions.c.user_id == user.id))
    return user_by_name(conn, name)


# ---- sessions -------------------------------------------------------------------------------

def insert_session(conn: Connection, token_hash: str, user_id: int, now: int, expires_at: int, ip: str) -> None:
    conn.execute(delete(admin_sessions).where(admin_sessions.c.expires_at <= now))  # keep the table small
    conn.execute(admin_sessions.insert().values(token_hash=token_hash, user_id=user_id, created_at=now,
                                                expires_at=expires_at, ip=ip[:64]))


def session_user(conn: Connection, token_hash: str, now: int) -> AdminUser | None:
    """The enabled user of an unexpired session, else None."""
    row = conn.execute(select(admin_users).join(admin_sessions, admin_sessions.c.user_id == admin_users.c.id)
                       .where(admin_sessions.c.token_hash == token_hash, admin_sessions.c.expires_at > now,
                              admin_users.c.disabled.is_(False))).one_or_none()
    return None if row is None else _user(row)


def delete_session(conn: Connection, token_hash: str) -> None:
    conn.execute(delete(admin_sessions).where(admin_sessions.c.token_hash == token_hash))


# ---- audit log ------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class AuditRecord:
    id: int
    at: int
    actor: str
    action: str
    target: str
    details: dict
    ip: str


def audit(conn: Connection, actor: str, action: str, target: str, details: dict, ip: str, now: int) -> None:
    conn.execute(audit_log.insert().values(at=now, actor=actor[:64], action=action[:32], target=target[:128],
                                           details=json.dumps(details, sort_keys=True), ip=ip[:64]))


def audit_records(conn: Connection, *, action: str | None = None, limit: int = 100) -> list[AuditRecord]:
    """Newest first."""
    stmt = select(audit_log)
    if action:
        stmt = stmt.where(audit_log.c.action == action)
    rows = conn.execute(stmt.order_by(audit_log.c.id.desc()).limit(limit)).all()
    return [AuditRecord(r.id, r.at, r.actor, r.action, r.target, json.loads(r.details), r.ip) for r in rows]


# ---- what the subscriber page shows ------------------------------------------------------------

def renewals_of(conn: Connection, card: str, limit: int = 20) -> list[dict]:
    rows = conn.execute(select(renewals.c.id, packages.c.code, renewals.c.starts_at, renewals.c.ends_at,
                               renewals.c.tvu, renewals.c.reason, renewals.c.created_at)
                        .join(subscribers, subscribers.c.id == renewals.c.subscriber_id)
                        .join(packages, packages.c.id == renewals.c.package_id)
                        .where(subscribers.c.card == card).order_by(renewals.c.id.desc()).limit(limit)).all()
    return [dict(r._mapping) for r in rows]


def sms_of(conn: Connection, card: str, limit: int = 20) -> list[dict]:
    """SMS sent for ``card``'s events (one row per part), newest first."""
    rows = conn.execute(select(sms_messages.c.event_id, sms_messages.c.part, sms_messages.c.parts,
                               sms_messages.c.provider, sms_messages.c.msisdn, sms_messages.c.status,
                               sms_messages.c.receipt_state, sms_messages.c.error, sms_messages.c.created_at)
                        .join(outbox, outbox.c.event_id == sms_messages.c.event_id)
                        .where(outbox.c.card == card).order_by(sms_messages.c.id.desc()).limit(limit)).all()
    return [dict(r._mapping) for r in rows]


__all__ = ["AdminUser", "AuditRecord", "insert_user", "user_by_name", "find_user", "list_users", "update_user",
           "insert_session", "session_user", "delete_session", "audit", "audit_records", "renewals_of", "sms_of"]
