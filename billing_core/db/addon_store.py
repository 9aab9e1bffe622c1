"""Add-on subscriptions in the database: the transaction bodies of their use cases.

Every body locks the subscriber (and its wallet) first, as every wallet movement does,
then reads and changes the card's add-on rows; a row is renewed or expired by an
UPDATE conditional on the expiry it was read with, so two sweeps never renew or expire
one add-on twice. Prices and periods come from the caller's ``terms`` (the pure rule of
:func:`billing_core.addons.terms`), so the rule lives in one place.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

from sqlalchemy import Connection, select, update
from sqlalchemy.exc import IntegrityError

from billing_core import ledger
from billing_core.db import ledger_store, outbox_store
from billing_core.db.schema import packages, subscribers
from billing_core.db.schema_ppv import subscriptions_addons as addons
from billing_core.db.subscriber_store import Package, SubscriberRow, lock_subscriber, package_by_code
from billing_core.errors import (AddonActive, BaseNotActive, InsufficientWallet, SubscriberBlocked,
                                 WrongPackageKind)
from billing_core.renewal import Status
from tv_notify import events
from tv_notify.texts import day, notice

ACTIVE, EXPIRED = "active", "expired"

# (price_tvu, days, base_expires_at, now, aligned) -> (tvu to pay, expires_at)
Terms = Callable[[int, int, "int | None", int, bool], tuple[int, int]]


@dataclass(frozen=True, slots=True)
class Addon:
    package: Package
    expires_at: int
    status: str
    aligned: bool


@dataclass(frozen=True, slots=True)
class AddonBought:
    subscriber: SubscriberRow  # after the purchase
    addon: Addon
    tvu: int
    entry_id: int | None


_ADDON_COLUMNS = (addons.c.id, addons.c.expires_at, addons.c.status, addons.c.aligned, addons.c.subscriber_id,
                  packages.c.id.label("package_id"), packages.c.code, packages.c.name, packages.c.days,
                  packages.c.tvu, packages.c.products, packages.c.active, packages.c.kind)


def _addon(r) -> Addon:
    pkg = Package(r.package_id, r.code, r.name, r.days, r.tvu, tuple(p for p in (r.products or "").split(",") if p),
                  bool(r.active), r.kind)
    return Addon(pkg, r.expires_at, r.status, bool(r.aligned))


def _rows(conn: Connection, *where):
    return conn.execute(select(*_ADDON_COLUMNS).join(packages, packages.c.id == addons.c.package_id)
                        .where(*where).order_by(packages.c.code)).all()


def addons_of(conn: Connection, card: str) -> list[Addon]:
    """The add-ons ``card`` has or had, by package code."""
    sid = select(subscribers.c.id).where(subscribers.c.card == card).scalar_subquery()
    return [_addon(r) for r in _rows(conn, addons.c.subscriber_id == sid)]


# ---- purchase -------------------------------------------------------------------------------

def add(conn: Connection, card: str, code: str, now: int, aligned: bool, terms: Terms) -> AddonBought:
    """Buy add-on ``code`` for ``card`` from the wallet; its products are granted until it expires."""
    sub = lock_subscriber(conn, card)
    pkg = package_by_code(conn, code)
    if pkg.kind != "addon":
        raise WrongPackageKind(f"{code} is a base package, not an add-on")
    if sub.status is Status.SUSPENDED:
        raise SubscriberBlocked(f"card {card} is suspended")
    if not sub.subscription().is_active(now):
        raise BaseNotActive(f"card {card} has no active package to add {code} to")
    existing = conn.execute(select(addons.c.id, addons.c.status, addons.c.expires_at)
                            .where(addons.c.subscriber_id == sub.id, addons.c.package_id == pkg.id)).one_or_none()
    if existing is not None and existing.status == ACTIVE and existing.expires_at > now:
        raise AddonActive(f"{code} is active on card {card} until {day(existing.expires_at)}")
    tvu, expires_at = terms(pkg.tvu, pkg.days, sub.expires_at, now, aligned)
    if sub.wallet_tvu < tvu:
        raise InsufficientWallet(f"{code} costs {tvu} TVU now, wallet holds {sub.wallet_tvu}")
    entry_id = ledger_store.post(conn, ledger.addon_sale(card, tvu, f"addon:{code}:{card}"), now) if tvu else None
    values = {"expires_at": expires_at, "status": ACTIVE, "aligned": aligned, "updated_at": now}
    if existing is None:
        try:
            with conn.begin_nested():
                conn.execute(addons.insert().values(subscriber_id=sub.id, package_id=pkg.id, created_at=now, **values))
        except IntegrityError:  # cannot happen under the subscriber's lock; refused rather than doubled
            raise AddonActive(f"{code} was added to card {card} meanwhile") from None
    else:
        conn.execute(update(addons).where(addons.c.id == existing.id, addons.c.expires_at == existing.expires_at)
                     .values(**values))
    after = replace(sub, wallet_tvu=sub.wallet_tvu - tvu)
    addon = Addon(pkg, expires_at, ACTIVE, aligned)
    text = notice("addon_added", sub.lang, package=pkg.name, card=card, date=day(expires_at), tvu=tvu,
                  wallet=after.wallet_tvu)
    outbox_store.enqueue(conn, [events.grant(card, pkg.products, expires_at, sub.lang),
                                events.sms(card, sub.msisdn, text, sub.lang)], now)
    return AddonBought(after, addon, tvu, entry_id)


# ---- renewal or expiry ----------------------------------------------------------------------

def sweep_batch(conn: Connection, now: int, limit: int, terms: Terms) -> dict[str, int]:
    """Renew or expire up to about ``limit`` add-ons due now. Returns ``{"seen", "renewed", "expired"}``.

    Aligned add-ons renew (pro rata) only while the base package is active; independent
    ones renew for their own period. Either renews from the wallet when it covers the
    price, else it expires (revoke, notice). Subscribers are locked in card order.
    """
    due = conn.execute(select(subscribers.c.card)
                       .join(addons, addons.c.subscriber_id == subscribers.c.id)
                       .where(addons.c.status == ACTIVE, addons.c.expires_at <= now)
                       .order_by(addons.c.expires_at).limit(limit)).scalars().all()
    counts = {"seen": len(due), "renewed": 0, "expired": 0}
    for card in sorted(set(due)):
        sub = lock_subscriber(conn, card)
        for r in _rows(conn, addons.c.subscriber_id == sub.id, addons.c.status == ACTIVE, addons.c.expires_at <= now):
            sub = _renew_or_expire(conn, sub, r, now, terms, counts)
    return counts


def _renew_or_expire(conn: Connection, sub: SubscriberRow, r, now: int, terms: Terms,
                     counts: dict[str, int]) -> SubscriberRow:
    addon = _addon(r)
    pkg = addon.package
    base_active = sub.subscription().is_active(now)
    renewable = sub.status is not Status.SUSPENDED and (base_active or not addon.aligned)
    tvu, expires_at = terms(pkg.tvu, pkg.days, sub.expires_at, now, addon.aligned) if renewable else (0, now)
    current = (addons.c.id == r.id, addons.c.expires_at == r.expires_at, addons.c.status == ACTIVE)
    if renewable and sub.wallet_tvu >= tvu:
        if not conn.execute(update(addons).where(*current).values(expires_at=expires_at, updated_at=now)).rowcount:
            return sub
        if tvu:
            ledger_store.post(conn, ledger.addon_sale(sub.card, tvu, f"addon:{pkg.code}:{sub.card}"), now)
        sub = replace(sub, wallet_tvu=sub.wallet_tvu - tvu)
        text = notice("addon_renewed", sub.lang, package=pkg.name, card=sub.card, date=day(expires_at), tvu=tvu,
                      wallet=sub.wallet_tvu)
        outbox_store.enqueue(conn, [events.grant(sub.card, pkg.products, expires_at, sub.lang),
                                    events.sms(sub.card, sub.msisdn, text, sub.lang)], now)
        counts["renewed"] += 1
        return sub
    if not conn.execute(update(addons).where(*current).values(status=EXPIRED, updated_at=now)).rowcount:
        return sub
    text = notice("addon_expired", sub.lang, package=pkg.name, card=sub.card)
    outbox_store.enqueue(conn, [events.revoke(sub.card, pkg.products, sub.lang), events.osd(sub.card, text, sub.lang),
                                events.sms(sub.card, sub.msisdn, text, sub.lang)], now)
    counts["expired"] += 1
    return sub


__all__ = ["Addon", "AddonBought", "Terms", "addons_of", "add", "sweep_batch", "ACTIVE", "EXPIRED"]
