"""Add-ons: optional packages (``packages.kind = 'addon'``) bought on top of the base package.

An add-on is entitled as its own products (its own grant and revoke events), paid from
the wallet (``wallet:CARD`` to ``tvu:addons``), and is either

- **aligned**: it expires with the base package. It costs the add-on's price pro rata
  to the days left on the base: ``ceil(price * days_left / days)``, where ``days_left``
  counts a started day as a whole one; or
- **independent**: its own period of ``days`` from now, at the full price.

At its expiry the scheduler renews it by the same rule from the wallet (an aligned one
only while the base is active), otherwise it expires: revoked, and the subscriber told.

Refusals: ``wrong_package_kind`` (a base package), ``base_not_active``, ``addon_active``,
``insufficient_wallet``, ``subscriber_blocked``, ``unknown_package``, ``unknown_card``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from billing_core.context import Billing
from billing_core.db import addon_store
from billing_core.db.addon_store import Addon
from billing_core.renewal import DAY_S, iso
from billing_core.subscriptions import SubscriberView, view

BATCHES_MAX = 100_000


def terms(price_tvu: int, days: int, base_expires_at: int | None, now: int, aligned: bool) -> tuple[int, int]:
    """(TVU to pay, expiry) of an add-on bought or renewed at ``now`` (see the module's docstring)."""
    if not aligned or base_expires_at is None or base_expires_at <= now:
        return price_tvu, now + days * DAY_S
    days_left = -(-(base_expires_at - now) // DAY_S)
    return -(-price_tvu * days_left // days), base_expires_at


@dataclass(frozen=True, slots=True)
class AddonAdded:
    subscriber: SubscriberView  # after the purchase
    addon: Addon
    tvu: int


def addon_json(addon: Addon) -> dict[str, Any]:
    return {"package": addon.package.code, "name": addon.package.name, "expires_at": iso(addon.expires_at),
            "status": addon.status, "aligned": addon.aligned, "products": list(addon.package.products)}


async def add_addon(billing: Billing, card: str, code: str, *, aligned: bool = True) -> AddonAdded:
    """Buy add-on ``code`` for ``card`` from its wallet, aligned with the base package or for its own period."""
    card, now = billing.card(card), billing.now()
    done = await billing.db.write(addon_store.add, card, (code or "").strip().upper(), now, bool(aligned), terms)
    return AddonAdded(view(done.subscriber, now), done.addon, done.tvu)


async def addons_of(billing: Billing, card: str) -> list[Addon]:
    return await billing.db.read(addon_store.addons_of, billing.card(card))


async def sweep_addons(billing: Billing, *, limit: int = 200) -> dict[str, int]:
    """Renew or expire every add-on due now, about ``limit`` per transaction; the counts."""
    now = billing.now()
    total = {"renewed": 0, "expired": 0}
    for _ in range(BATCHES_MAX):
        done = await billing.db.write(addon_store.sweep_batch, now, limit, terms)
        total["renewed"] += done["renewed"]
        total["expired"] += done["expired"]
        if done["seen"] < limit:
            break
    return total


__all__ = ["AddonAdded", "terms", "addon_json", "add_addon", "addons_of", "sweep_addons"]
