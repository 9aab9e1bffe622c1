"""Events the billing core writes to the outbox, in the transaction that causes them.

``entitlement.grant`` / ``entitlement.revoke`` / ``osd.message`` go to the TV
system (conditional access or IPTV middleware); ``sms.send`` goes to the
subscriber's phone. The payload is what the webhook contract sends, less the
event id, which the outbox assigns (a UUID that stays the same across retries so
receivers can de-duplicate).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from billing_core.renewal import iso

GRANT = "entitlement.grant"
REVOKE = "entitlement.revoke"
OSD = "osd.message"
SMS = "sms.send"
KINDS = (GRANT, REVOKE, OSD, SMS)


@dataclass(frozen=True, slots=True)
class Event:
    kind: str
    card: str
    payload: dict[str, Any] = field(default_factory=dict)


def grant(card: str, products: tuple[str, ...], until: int, lang: str, *, starts: int | None = None) -> Event:
    """Entitle ``card`` to ``products`` until ``until``; ``starts`` (a pay-per-view event not
    begun yet) adds a ``starts`` key, so grants without one keep the payload they always had."""
    payload = {"event": GRANT, "card": card, "products": list(products), "until": iso(until), "text": "",
               "lang": lang}
    if starts is not None:
        payload["starts"] = iso(starts)
    return Event(GRANT, card, payload)


def revoke(card: str, products: tuple[str, ...], lang: str) -> Event:
    """End ``products`` for ``card``. The outbox adds ``paid`` when it writes the event: the
    card's products still entitled as the transaction leaves them (``entitlement_store``), so
    an adapter with one on/off switch per account turns it off only when that is empty. The
    webhook body keeps the contract's keys and leaves ``paid`` out."""
    return Event(REVOKE, card, {"event": REVOKE, "card": card, "products": list(products),
                                "until": None, "text": "", "lang": lang})


def osd(card: str, text: str, lang: str) -> Event:
    return Event(OSD, card, {"event": OSD, "card": card, "products": [], "until": None,
                             "text": text, "lang": lang})


def sms(card: str, msisdn: str, text: str, lang: str) -> Event:
    return Event(SMS, card, {"event": SMS, "card": card, "msisdn": msisdn, "text": text, "lang": lang})
