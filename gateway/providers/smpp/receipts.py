"""Delivery receipts in ``deliver_sm``: which message, and what became of it.

Pure. The ``receipted_message_id`` and ``message_state`` TLVs are preferred; the
receipt text (``id:… sub:001 dlvrd:001 submit date:… done date:… stat:DELIVRD
err:000 text:…``) fills in what they lack. ``status`` is ours: ``delivered``,
``failed`` (final) or ``sent`` (still on its way: ENROUTE, ACCEPTD, UNKNOWN).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

RECEIPT_TYPES = 0x04 | 0x08 | 0x20  # SMSC delivery receipt, SME acknowledgement, intermediate notification

# message_state TLV values (SMPP 3.4, 5.2.28) and the receipt text's seven-letter words
_STATES = {1: "ENROUTE", 2: "DELIVRD", 3: "EXPIRED", 4: "DELETED", 5: "UNDELIV", 6: "ACCEPTD", 7: "UNKNOWN",
           8: "REJECTD"}
_STATUS = {"DELIVRD": "delivered", "DELIVERED": "delivered", "EXPIRED": "failed", "DELETED": "failed",
           "UNDELIV": "failed", "UNDELIVERABLE": "failed", "REJECTD": "failed", "REJECTED": "failed"}
_ID = re.compile(r"\bid:\s*([0-9A-Za-z._:-]{1,64})", re.IGNORECASE)
_STAT = re.compile(r"\bstat:\s*([A-Za-z_]{1,16})", re.IGNORECASE)
_ERR = re.compile(r"\berr:\s*([0-9A-Za-z]{1,8})", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Receipt:
    message_id: str
    state: str  # DELIVRD, UNDELIV, ...
    status: str  # delivered | failed | sent
    error: str  # "err:NNN" for a failure, else ""


def is_receipt(esm_class: int) -> bool:
    return bool(esm_class & RECEIPT_TYPES)


def parse_receipt(text: str, receipted_message_id: str = "", message_state: int | None = None) -> Receipt | None:
    """The receipt these fields describe; None when no message id can be found."""
    id_match, stat_match, err_match = _ID.search(text), _STAT.search(text), _ERR.search(text)
    message_id = receipted_message_id.strip().rstrip("\0") or (id_match.group(1) if id_match else "")
    if not message_id:
        return None
    state = _STATES.get(message_state or 0) or (stat_match.group(1).upper() if stat_match else "UNKNOWN")
    status = _STATUS.get(state, "sent")
    error = ""
    if status == "failed":
        code = err_match.group(1) if err_match else ""
        error = f"{state} err:{code}" if code else state
    return Receipt(message_id, state, status, error)


__all__ = ["Receipt", "is_receipt", "parse_receipt"]
