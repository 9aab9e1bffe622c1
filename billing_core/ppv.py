"""Pay-per-view: events on sale, bought from the wallet, entitled for their window.

- :func:`add_event`, :func:`list_events`: the operator's catalogue.
- :func:`buy_event`: one transaction that checks the wallet, debits it (``wallet:CARD`` to
  ``tvu:ppv``), records the purchase once per card and event (a repeat is refused
  ``already_bought``), grants the event's CAS product until the event ends (with its
  start when it has not begun) and sends the subscriber a notice.
- :func:`revoke_ended`: the scheduler's step: revokes each purchase of an ended event
  once (``billing_core.db.ppv_store.revoke_ended_batch``).
- :func:`cancel_event`: off sale, then every purchase refunded by a reversing entry
  (and revoked unless it was already), in batches; running it again finishes a
  cancellation that was cut short.

Refusals: ``unknown_event``, ``event_closed`` (cancelled or over), ``already_bought``,
``insufficient_wallet``, ``subscriber_blocked``, ``unknown_card``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from billing_core.context import Billing
from billing_core.db import ppv_store
from billing_core.db.ppv_store import Event
from billing_core.errors import InvalidInput
from billing_core.renewal import iso
from billing_core.subscriptions import SubscriberView, view

CODE_MAX, TITLE_MAX, PRODUCT_MAX = 32, 64, 64
TVU_MAX = 10_000_000
BATCHES_MAX = 100_000  # every loop has a bound
CHANNELS = ("ussd", "sms", "cli", "api")


@dataclass(frozen=True, slots=True)
class Purchase:
    event: Event
    subscriber: SubscriberView  # after the purchase (wallet debited)
    entry_id: int


@dataclass(frozen=True, slots=True)
class Cancelled:
    event: Event
    refunded: int


def event_json(event: Event, sold: int | None = None) -> dict[str, Any]:
    data = {"code": event.code, "title": event.title, "starts_at": iso(event.starts_at),
            "ends_at": iso(event.ends_at), "tvu": event.tvu, "product": event.product, "status": event.status}
    if sold is not None:
        data["sold"] = sold
    return data


def event_code(text: str) -> str:
    """An event code as stored: upper case, 1-32 letters, digits, '-' or '_', at least one letter
    (an all-digit word is a card number to the SMS parser)."""
    code = (text or "").strip().upper()
    plain = code.replace("_", "").replace("-", "")
    if not code or len(code) > CODE_MAX or not plain.isascii() or not plain.isalnum() \
            or not any(c.isalpha() for c in code):
        raise InvalidInput("an event code is 1-32 letters, digits, '-' or '_', with a letter")
    return code


async def add_event(billing: Billing, code: str, title: str, starts_at: int, ends_at: int, tvu: int,
                    product: str) -> Event:
    code = event_code(code)
    title = " ".join((title or "").split())
    product = (product or "").strip()
    if not title or len(title) > TITLE_MAX or not title.isascii() or not title.isprintable():
        raise InvalidInput(f"a title is 1-{TITLE_MAX} plain ASCII characters")
    if type(tvu) is not int or not 0 < tvu <= TVU_MAX:
        raise InvalidInput("tvu must be a whole number above 0")
    if not product or len(product) > PRODUCT_MAX or "," in product:
        raise InvalidInput("the event needs one CAS product id")
    if type(starts_at) is not int or type(ends_at) is not int or ends_at <= starts_at:
        raise InvalidInput("the event must end after it starts")
    if ends_at <= billing.now():
        raise InvalidInput("the event is over already")
    return await billing.db.write(ppv_store.insert_event, code, title, starts_at, ends_at, tvu, product,
                                  billing.now())


async def list_events(billing: Billing, *, on_sale: bool = False) -> list[Event]:
    """Every event, or only those on sale now (scheduled and not over), by start time."""
    return await billing.db.read(ppv_store.list_events, on_sale_at=billing.now() if on_sale else None)


async def sold(billing: Billing, event: Event) -> int:
    return await billing.db.read(ppv_store.purchase_count, event.id)


async def buy_event(billing: Billing, card: str, code: str, *, channel: str, msisdn: str | None = None) -> Purchase:
    """Buy event ``code`` for ``card`` from its wallet (see the module's docstring)."""
    card, code = billing.card(card), event_code(code)
    if channel not in CHANNELS:
        raise InvalidInput(f"channel is one of {', '.join(CHANNELS)}")
    phone = billing.msisdn(msisdn) if msisdn else ""
    now = billing.now()
    done = await billing.db.write(ppv_store.buy, card, code, channel, phone, now)
    return Purchase(done.event, view(done.subscriber, now), done.entry_id)


async def cancel_event(billing: Billing, code: str, *, batch: int = 200) -> Cancelled:
    """Cancel event ``code`` (before or during it) and refund every purchase to its wallet."""
    code = event_code(code)
    event = await billing.db.write(ppv_store.cancel, code, billing.now())
    refunded = 0
    for _ in range(BATCHES_MAX):
        done = await billing.db.write(ppv_store.refund_batch, event, billing.now(), batch)
        refunded += done
        if done < batch:
            break
    return Cancelled(event, refunded)


async def revoke_ended(billing: Billing, *, limit: int = 200) -> int:
    """Revoke every purchase of an ended event not revoked yet, ``limit`` per transaction;
    how many this call revoked (a purchase is revoked once, however many schedulers run)."""
    now = billing.now()
    revoked = 0
    for _ in range(BATCHES_MAX):
        done = await billing.db.write(ppv_store.revoke_ended_batch, now, limit)
        revoked += done["revoked"]
        if done["seen"] < limit:
            break
    return revoked


__all__ = ["Purchase", "Cancelled", "event_json", "event_code", "add_event", "list_events", "sold", "buy_event",
           "cancel_event", "revoke_ended"]
