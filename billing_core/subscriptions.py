"""Use cases on packages, subscribers and their subscriptions.

Each use case is one database transaction (``billing.db.write``/``read``) that
also writes the outbox events it causes.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from billing_core import ledger
from billing_core.context import Billing
from billing_core.db import subscriber_store as store
from billing_core.db.subscriber_store import Package, SubscriberRow
from billing_core.errors import InvalidInput, InvalidMsisdn, UnknownCard
from billing_core.renewal import DAY_S, Status, iso

PACKAGE_CODE_MAX = 32


@dataclass(frozen=True, slots=True)
class SubscriberView:
    """A subscriber as the contract shows it."""

    card: str
    msisdn: str
    name: str
    lang: str
    status: str
    package: str | None
    package_name: str | None
    expires_at: int | None
    wallet_tvu: int
    recent: tuple[dict, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"card": self.card, "msisdn": self.msisdn, "name": self.name, "lang": self.lang,
                "status": self.status, "package": self.package, "package_name": self.package_name,
                "expires_at": iso(self.expires_at), "wallet_tvu": self.wallet_tvu,
                "recent": [{**r, "at": iso(r["at"])} for r in self.recent]}


def view(row: SubscriberRow, now: int, recent: tuple[dict, ...] = ()) -> SubscriberView:
    pkg = row.package
    return SubscriberView(row.card, row.msisdn, row.name, row.lang, row.subscription().effective_status(now).value,
                          pkg.code if pkg else None, pkg.name if pkg else None, row.expires_at, row.wallet_tvu,
                          recent)


# ---- packages ------------------------------------------------------------------------------

async def add_package(billing: Billing, code: str, name: str, days: int, tvu: int,
                      products: tuple[str, ...] = (), *, kind: str = "base") -> Package:
    """A package priced in TVU; ``kind`` ``addon`` makes it an add-on (bought on top of a base package)."""
    code = (code or "").strip().upper()
    if not code or len(code) > PACKAGE_CODE_MAX or not code.replace("_", "").replace("-", "").isalnum():
        raise InvalidInput("a package code is 1-32 letters, digits, '-' or '_'")
    if not name or len(name) > 128:
        raise InvalidInput("a package needs a name of at most 128 characters")
    if type(days) is not int or not 1 <= days <= 3660:
        raise InvalidInput("days must be a whole number from 1 to 3660")
    if type(tvu) is not int or tvu < 0:
        raise InvalidInput("tvu must be a whole number >= 0")
    if any(not p.strip() or "," in p for p in products):
        raise InvalidInput("products are CAS product ids separated by commas")
    if kind not in ("base", "addon"):
        raise InvalidInput("a package is of kind base or addon")
    return await billing.db.write(store.insert_package, code, name, days, tvu,
                                  tuple(p.strip() for p in products), billing.now(), kind)


async def list_packages(billing: Billing) -> list[Package]:
    return await billing.db.read(store.list_packages)


# ---- subscribers ---------------------------------------------------------------------------

async def add_subscriber(billing: Billing, card: str, msisdn: str, *, package: str | None = None,
                         name: str = "", lang: str | None = None) -> SubscriberView:
    card, msisdn, lang = billing.card(card), billing.msisdn(msisdn), billing.lang(lang)
    if len(name) > 128:
        raise InvalidInput("name is at most 128 characters")
    now = billing.now()

    def tx(conn):
        package_id = store.package_by_code(conn, package.strip().upper()).id if package else None
        store.insert_subscriber(conn, card, msisdn, name.strip(), lang, package_id, now)
        return store.lock_subscriber(conn, card)

    return view(await billing.db.write(tx), now)


async def find_subscribers(billing: Billing, card_or_msisdn: str) -> list[SubscriberView]:
    """Subscribers by card, or every card of a phone number, with their last wallet movements.

    A local phone number (``0712345678``) is card-shaped too: when no card matches, it is
    tried as a phone number.
    """
    key = (card_or_msisdn or "").strip()
    by_card = billing.is_card(key)
    msisdn = _msisdn_or_none(billing, key) if by_card else billing.msisdn(key)
    found = await _find(billing, key if by_card else None, msisdn)
    if not found:
        raise UnknownCard(f"no subscriber for {key if by_card else 'that phone number'}")
    return found


async def show_subscriber(billing: Billing, card: str) -> SubscriberView:
    """The subscriber of ``card`` (never the subscriber of a phone number that looks like it)."""
    card = billing.card(card)
    found = await _find(billing, card, None)
    if not found:
        raise UnknownCard(f"no subscriber for {card}")
    return found[0]


async def cards_of_phone(billing: Billing, msisdn: str) -> list[SubscriberView]:
    """The subscribers registered to ``msisdn``, by card number (none: an empty list)."""
    msisdn, now = billing.msisdn(msisdn), billing.now()
    rows = await billing.db.read(store.find_subscribers, msisdn=msisdn)
    return [view(r, now) for r in rows]


async def set_language(billing: Billing, msisdn: str, lang: str, *, card: str | None = None) -> int:
    """Choose the language of SMS, screens and notices for every card of ``msisdn`` (or one
    of them); how many subscribers changed (0: the phone has no card)."""
    msisdn, lang = billing.msisdn(msisdn), billing.lang(lang)
    return await billing.db.write(store.set_lang, msisdn, lang, billing.now(), billing.card(card) if card else None)


async def _find(billing: Billing, card: str | None, msisdn: str | None) -> list[SubscriberView]:
    now = billing.now()

    def tx(conn):
        rows = store.find_subscribers(conn, card=card) if card else []
        if not rows and msisdn:
            rows = store.find_subscribers(conn, msisdn=msisdn)
        return [view(r, now, tuple(store.recent_wallet_entries(conn, r.wallet_account_id))) for r in rows]

    return await billing.db.read(tx)


def _msisdn_or_none(billing: Billing, text: str) -> str | None:
    try:
        return billing.msisdn(text)
    except InvalidMsisdn:
        return None


# ---- wallet and renewals -------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Credited:
    entry_id: int
    tvu: int
    renewed: bool
    subscriber: SubscriberView


async def credit_tvu(billing: Billing, card: str, tvu: int, *, source: str, ref: str, kind: str,
                     created_by: str = "") -> Credited:
    """Put ``tvu`` into a wallet from a TVU source account (opening balance, grant, card value)."""
    card = billing.card(card)
    if type(tvu) is not int or tvu <= 0:
        raise InvalidInput("tvu must be a positive whole number")
    entry = ledger.wallet_credit(card, tvu, source, ref, kind)
    now = billing.now()
    result = await billing.db.write(store.credit, card, entry, tvu, now, created_by=created_by)
    return Credited(result.entry_id, result.tvu, result.renewed, view(result.subscriber, now))


async def renew(billing: Billing, card: str, package: str | None = None) -> SubscriberView:
    """Explicit renewal (RENEW, a dealer package top-up): at once, stacked, from the wallet."""
    card = billing.card(card)
    now = billing.now()
    code = package.strip().upper() if package else None
    return view(await billing.db.write(store.renew, card, now, package_code=code), now)


async def choose_package(billing: Billing, card: str, package: str) -> SubscriberView:
    """The package ``card`` renews into next time (paid then, by whatever reaches the wallet)."""
    card, now = billing.card(card), billing.now()
    return view(await billing.db.write(store.choose_package, card, package.strip().upper(), now), now)


# ---- package change -------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class PackageChanged:
    """``upgraded`` (at once; ``credited`` TVU for the old package's unused time) or
    ``next_renewal`` (a cheaper package, or no running period: taken at the next renewal)."""

    kind: str
    credited: int
    subscriber: SubscriberView


def unused_tvu(price_tvu: int, days: int, seconds_left: int) -> int:
    """TVU given back for the unused part of a period: ``floor(price * seconds_left / period)``.

    Stacked periods count whole (more than one period left gives back more than the price);
    free days granted by an operator count as days left too.
    """
    return price_tvu * max(seconds_left, 0) // (days * DAY_S)


async def change_package(billing: Billing, card: str, package: str) -> PackageChanged:
    """Change ``card``'s package: a dearer one during a running period is an upgrade at once
    (the unused days of the old one credited pro rata, then the new one paid from the wallet
    with a period from now, one transaction); anything else is the package of the next
    renewal (:func:`choose_package`)."""
    card, now = billing.card(card), billing.now()
    done = await billing.db.write(store.change_package, card, (package or "").strip().upper(), now, unused_tvu)
    return PackageChanged(done.kind, done.credited, view(done.subscriber, now))


__all__ = ["SubscriberView", "PackageChanged", "unused_tvu", "change_package", "Credited", "Status", "add_package", "list_packages", "add_subscriber",
           "find_subscribers", "show_subscriber", "cards_of_phone", "set_language", "choose_package", "credit_tvu", "renew", "view"]
