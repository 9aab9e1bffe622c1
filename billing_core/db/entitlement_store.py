"""What each card is still entitled to: granted and not revoked (base package, add-ons, pay-per-view).

A revoke event carries this as ``paid`` (see :func:`with_paid`), read at the end of the
transaction that writes it, so a TV system that keeps one switch per account (Ministra's
``status``) switches a subscriber off only when nothing paid remains, and never because one
of several products ended.
"""
from __future__ import annotations

import json
from collections.abc import Collection

from sqlalchemy import Connection, select

from billing_core.db.schema import packages, subscribers
from billing_core.db.schema_ppv import ppv_events, ppv_purchases, subscriptions_addons

ACTIVE = "active"


def paid_products(conn: Connection, cards: Collection[str]) -> dict[str, list[str]]:
    """``{card: products}`` still entitled (sorted, unique), for every card in ``cards``.

    Entitled means granted and not yet revoked: an active base subscription's package
    (during its grace too: its revoke has not been written), active add-ons, and
    pay-per-view purchases neither revoked nor refunded.
    """
    cards = sorted(set(cards))
    found: dict[str, set[str]] = {card: set() for card in cards}
    if not cards:
        return {}
    base = select(subscribers.c.card, packages.c.products).join(packages, packages.c.id == subscribers.c.package_id) \
        .where(subscribers.c.card.in_(cards), subscribers.c.status == ACTIVE)
    addons = select(subscribers.c.card, packages.c.products) \
        .join(subscriptions_addons, subscriptions_addons.c.subscriber_id == subscribers.c.id) \
        .join(packages, packages.c.id == subscriptions_addons.c.package_id) \
        .where(subscribers.c.card.in_(cards), subscriptions_addons.c.status == ACTIVE)
    ppv = select(subscribers.c.card, ppv_events.c.product) \
        .join(ppv_purchases, ppv_purchases.c.subscriber_id == subscribers.c.id) \
        .join(ppv_events, ppv_events.c.id == ppv_purchases.c.event_id) \
        .where(subscribers.c.card.in_(cards), ppv_purchases.c.revoked_at.is_(None),
               ppv_purchases.c.refunded_at.is_(None))
    for query in (base, addons, ppv):
        for card, products in conn.execute(query).all():
            found[card].update(p for p in (products or "").split(",") if p)
    return {card: sorted(products) for card, products in found.items()}


def with_paid(conn: Connection, rows: list[dict], revoke_kind: str) -> None:
    """Add ``paid`` to the payload of each revoke among outbox ``rows`` (in place)."""
    revokes = [row for row in rows if row["kind"] == revoke_kind]
    if not revokes:
        return
    paid = paid_products(conn, {row["card"] for row in revokes})
    for row in revokes:
        payload = json.loads(row["payload"])
        payload["paid"] = paid.get(row["card"], [])
        row["payload"] = json.dumps(payload, separators=(",", ":"))


__all__ = ["paid_products", "with_paid"]
