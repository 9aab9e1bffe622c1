"""Operator users of the web pages: accounts, passwords, sessions, roles and the audit log.

- Passwords are hashed with scrypt (stdlib ``hashlib.scrypt``, N=2^14, r=8, p=1, a random
  16-byte salt per user) and stored as ``scrypt$N$r$p$salt$hash`` (base64); checking is in
  constant time. A password is never stored, logged or returned.
- A session is a random 32-byte token held by the browser; the database keeps its SHA-256
  only, with an expiry. The CSRF token of a session is derived from the session token
  (``HMAC-SHA256(token, "csrf")``), so it needs no storage and dies with the session.
- Roles are ordered: ``viewer`` (reads every page) < ``operator`` (also moves value:
  assigns held payments, retries events) < ``admin`` (also reads the audit log).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from billing_core.context import Billing
from billing_core.db import admin_store
from billing_core.db.admin_store import AdminUser, AuditRecord
from billing_core.db.schema_admin import ROLES
from billing_core.errors import InvalidInput, Unauthorized

NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
PASSWORD_MIN = 10
PASSWORD_MAX = 1024
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
TOKEN_BYTES = 32

# Checked against when the name is unknown, so an unknown name costs as long as a wrong password.
_DUMMY_HASH = ""


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32)
    b64 = lambda b: base64.b64encode(b).decode()  # noqa: E731
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${b64(salt)}${b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches ``stored``; False for anything malformed."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        got = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p),
                             dklen=len(expected))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, expected)


def role_at_least(role: str, needed: str) -> bool:
    return ROLES.index(role) >= ROLES.index(needed)


def _check_name(name: str) -> str:
    name = (name or "").strip().lower()
    if not NAME.fullmatch(name):
        raise InvalidInput("a user name is 1-64 lower-case letters, digits or ._- (starting with a letter or digit)")
    return name


def _check_role(role: str) -> str:
    if role not in ROLES:
        raise InvalidInput(f"a role is one of {', '.join(ROLES)}")
    return role


def _check_password(password: str) -> str:
    if not PASSWORD_MIN <= len(password or "") <= PASSWORD_MAX:
        raise InvalidInput(f"a password is {PASSWORD_MIN} to {PASSWORD_MAX} characters")
    return password


async def add_user(billing: Billing, name: str, role: str, password: str) -> AdminUser:
    name, role, password = _check_name(name), _check_role(role), _check_password(password)
    return await billing.db.write(admin_store.insert_user, name, role, hash_password(password), billing.now())


async def set_password(billing: Billing, name: str, password: str) -> AdminUser:
    """A new password; the user's open sessions end."""
    hashed = hash_password(_check_password(password))
    return await billing.db.write(admin_store.update_user, _check_name(name), billing.now(), password_hash=hashed)


async def set_role(billing: Billing, name: str, role: str) -> AdminUser:
    return await billing.db.write(admin_store.update_user, _check_name(name), billing.now(), role=_check_role(role))


async def set_disabled(billing: Billing, name: str, disabled: bool) -> AdminUser:
    return await billing.db.write(admin_store.update_user, _check_name(name), billing.now(), disabled=disabled)


async def list_users(billing: Billing) -> list[AdminUser]:
    return await billing.db.read(admin_store.list_users)


# ---- sessions -------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Session:
    token: str  # for the cookie only
    user: AdminUser
    expires_at: int


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def csrf_token(session_token: str) -> str:
    """The CSRF token of a session (put in every form; see :func:`csrf_ok`)."""
    return hmac.new(session_token.encode(), b"csrf", hashlib.sha256).hexdigest()


def csrf_ok(session_token: str, given: str) -> bool:
    return hmac.compare_digest(csrf_token(session_token).encode(), (given or "").encode())


async def log_in(billing: Billing, name: str, password: str, *, ip: str, session_s: int) -> Session:
    """A new session for a right name and password of an enabled user (audited); a refusal
    says nothing about which was wrong."""
    global _DUMMY_HASH
    try:
        name = _check_name(name)
    except InvalidInput:
        name = ""
    user = await billing.db.read(admin_store.find_user, name) if name else None
    if not _DUMMY_HASH:
        _DUMMY_HASH = hash_password(secrets.token_hex(8))
    matched = verify_password(password or "", user.password_hash if user else _DUMMY_HASH)
    now = billing.now()
    if user is None or not matched or user.disabled:
        await billing.db.write(admin_store.audit, name or "-", "login.refused", name, {}, ip, now)
        raise Unauthorized("wrong user name or password")
    token = secrets.token_urlsafe(TOKEN_BYTES)

    def tx(conn):
        admin_store.insert_session(conn, token_hash(token), user.id, now, now + session_s, ip)
        admin_store.audit(conn, user.name, "login", user.name, {"role": user.role}, ip, now)

    await billing.db.write(tx)
    return Session(token, user, now + session_s)


async def session_user(billing: Billing, token: str | None) -> AdminUser | None:
    """The user of a live session token (None: no, expired or ended session)."""
    if not token or len(token) > 128:
        return None
    return await billing.db.read(admin_store.session_user, token_hash(token), billing.now())


async def log_out(billing: Billing, token: str) -> None:
    await billing.db.write(admin_store.delete_session, token_hash(token))


# ---- audit ----------------------------------------------------------------------------------

async def record(billing: Billing, user: AdminUser, action: str, target: str, details: dict, ip: str = "") -> None:
    await billing.db.write(admin_store.audit, user.name, action, target, details, ip, billing.now())


async def audit_log(billing: Billing, *, action: str | None = None, limit: int = 100) -> list[AuditRecord]:
    if type(limit) is not int or not 1 <= limit <= 10_000:
        raise InvalidInput("limit is from 1 to 10000")
    return await billing.db.read(lambda conn: admin_store.audit_records(conn, action=action, limit=limit))


__all__ = ["AdminUser", "AuditRecord", "Session", "add_user", "set_password", "set_role", "set_disabled",
           "list_users", "log_in", "log_out", "session_user", "csrf_token", "csrf_ok", "record", "audit_log",
           "hash_password", "verify_password", "role_at_least", "ROLES"]
