"""Outgoing SMS and their delivery status (table ``sms_messages``, see ``schema_sms``).

A sender calls :func:`prepare` before sending an event's parts (it learns which
parts a previous attempt already handed over), :func:`mark_sent` /
:func:`mark_failed` with the provider's answer, and delivery reports go through
:func:`apply_receipt`, matched by (provider, normalised message id).

Ids: SMSCs answer ``submit_sm`` with an id in one spelling and report it in
another (hex in the response, decimal in the receipt text, upper or lower case,
with or without leading zeros). :func:`message_ref` is the stored spelling,
:func:`message_refs` the spellings a receipt's id may stand for.

Status only moves forward: ``delivered`` is final; a report never turns a
``queued`` row into anything (it cannot match one: the id is not known yet).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from sqlalchemy import Connection, and_, case, func, select, update

from billing_core.db.dialect import insert_ignore
from billing_core.db.schema_sms import DELIVERED, FAILED, QUEUED, SENT, sms_messages

_HEX = frozenset("0123456789abcdef")
REF_MAX = 64
ERROR_MAX = 255


@dataclass(frozen=True, slots=True)
class SmsMessage:
    event_id: str
    part: int
    parts: int
    provider: str
    msisdn: str
    status: str
    provider_message_id: str | None
    receipt_state: str
    error: str
    sent_at: int | None
    done_at: int | None


@dataclass(frozen=True, slots=True)
class Sent:
    """A part the provider accepted, with the id it gave it."""

    event_id: str
    part: int
    message_id: str


def message_ref(message_id: str) -> str:
    """The stored spelling of a provider's message id: trimmed, lower case, no leading zeros."""
    text = message_id.strip().lower()[:REF_MAX]
    return text.lstrip("0") or ("0" if text else "")


def message_refs(message_id: str) -> tuple[str, ...]:
    """Spellings ``message_id`` from a delivery report may stand for: itself, and its
    hexadecimal (if decimal) or decimal (if hexadecimal) twin; the first is the id as given."""
    ref = message_ref(message_id)
    if not ref:
        return ()
    refs = [ref]
    if ref.isdigit() and len(ref) <= 30:
        refs.append(format(int(ref), "x"))
    if set(ref) <= _HEX and len(ref) <= 24:
        refs.append(str(int(ref, 16)))
    return tuple(dict.fromkeys(r[:REF_MAX] for r in refs))


def prepare(conn: Connection, event_id: str, provider: str, msisdn: str, parts: int, now: int) -> dict[int, str]:
    """Rows for parts 1..``parts`` of ``event_id`` (kept if they exist); returns each part's status."""
    rows = [{"event_id": event_id, "part": part, "parts": parts, "provider": provider, "msisdn": msisdn[:20],
             "status": QUEUED, "created_at": now, "updated_at": now} for part in range(1, parts + 1)]
    conn.execute(insert_ignore(conn, sms_messages, "event_id", "part"), rows)
    found = conn.execute(select(sms_messages.c.part, sms_messages.c.status)
                         .where(sms_messages.c.event_id == event_id)).all()
    return {r.part: r.status for r in found}


def mark_sent(conn: Connection, provider: str, sent: Iterable[Sent], now: int) -> int:
    """Record parts the provider accepted; returns how many rows changed.

    An id the provider used before (a restarted SMSC counting from 1 again) moves to
    the new message: a receipt belongs to the latest message that was given the id.
    """
    changed = 0
    for item in sent:
        ref = message_ref(item.message_id) or None
        if ref is not None:
            conn.execute(update(sms_messages)
                         .where(sms_messages.c.provider == provider, sms_messages.c.message_ref == ref,
                                ~and_(sms_messages.c.event_id == item.event_id, sms_messages.c.part == item.part))
                         .values(message_ref=None))
        result = conn.execute(
            update(sms_messages)
            .where(sms_messages.c.event_id == item.event_id, sms_messages.c.part == item.part,
                   sms_messages.c.status != DELIVERED)
            .values(status=SENT, provider=provider, provider_message_id=item.message_id[:REF_MAX], message_ref=ref,
                    error="", sent_at=now, updated_at=now))
        changed += result.rowcount
    return changed


def mark_failed(conn: Connection, event_id: str, part: int, error: str, now: int) -> int:
    """A part the provider refused (or a send that did not complete); ``sent`` and later stay."""
    result = conn.execute(update(sms_messages)
                          .where(sms_messages.c.event_id == event_id, sms_messages.c.part == part,
                                 sms_messages.c.status.in_((QUEUED, FAILED)))
                          .values(status=FAILED, error=error[:ERROR_MAX], updated_at=now))
    return result.rowcount


def apply_receipt(conn: Connection, provider: str, message_id: str, status: str, state: str, error: str,
                  now: int) -> bool:
    """A delivery report: ``status`` is ``sent`` (still on its way), ``delivered`` or ``failed``;
    ``state`` the provider's word (``DELIVRD``, ``Success``). False when no message has that id."""
    refs = message_refs(message_id)
    if not refs:
        return False
    exact_first = case((sms_messages.c.message_ref == refs[0], 0), else_=1)
    row = conn.execute(select(sms_messages.c.id, sms_messages.c.status)
                       .where(sms_messages.c.provider == provider, sms_messages.c.message_ref.in_(refs))
                       .order_by(exact_first).limit(1)).first()
    if row is None:
        return False
    values: dict[str, object] = {"receipt_state": state[:16], "updated_at": now}
    if status in (DELIVERED, FAILED):
        values.update(status=status, done_at=now, error=error[:ERROR_MAX])
    conn.execute(update(sms_messages)
                 .where(sms_messages.c.id == row.id, sms_messages.c.status.in_((SENT, FAILED)))
                 .values(**values))
    return True


def messages(conn: Connection, event_id: str) -> list[SmsMessage]:
    """Every part of ``event_id``, in order."""
    rows = conn.execute(select(sms_messages).where(sms_messages.c.event_id == event_id)
                        .order_by(sms_messages.c.part)).all()
    return [_message(r) for r in rows]


def by_provider_id(conn: Connection, provider: str, message_id: str) -> SmsMessage | None:
    """The message a provider's id names (any of its spellings), or None."""
    refs = message_refs(message_id)
    if not refs:
        return None
    row = conn.execute(select(sms_messages).where(sms_messages.c.provider == provider,
                                                  sms_messages.c.message_ref.in_(refs))).first()
    return None if row is None else _message(row)


def counts(conn: Connection) -> dict[str, int]:
    """Messages per status."""
    rows = conn.execute(select(sms_messages.c.status, func.count()).group_by(sms_messages.c.status)).all()
    return {status: n for status, n in rows}


def _message(r) -> SmsMessage:
    return SmsMessage(r.event_id, r.part, r.parts, r.provider, r.msisdn, r.status, r.provider_message_id,
                      r.receipt_state, r.error, r.sent_at, r.done_at)


__all__ = ["SmsMessage", "Sent", "apply_receipt", "by_provider_id", "counts", "mark_failed", "mark_sent",
           "message_ref", "message_refs", "messages", "prepare"]
