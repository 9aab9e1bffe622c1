"""Tables of sites, decoder stock, products and promotions. They live on
:data:`billing_core.db.schema.metadata`; migration 0010 creates them. Times are epoch
seconds (UTC), money integer minor units, TVU integers.

- ``sites``: the operator's agencies and technical sites, each in a region.
- ``decoders``: one row per decoder: its serial, the smartcard paired with it, its
  state and where it is (a site, a dealer, or the subscriber's card it was sold or
  installed to). State changes are conditional ``UPDATE … WHERE state = :from``.
- ``decoder_movements``: append-only history of every decoder: what happened, from
  which state to which, where to, who did it and when.
- ``card_swaps``: a subscriber's smartcard replaced by another (the subscription moves).
- ``products`` / ``product_prices``: goods and services sold with decoders, priced per
  currency; ``product_sales``: each sale, by a site or a dealer, with its ledger entry.
- ``promotions``: operator-defined rules with a window and a budget; ``spent`` only
  moves by ``UPDATE … WHERE spent + :x <= budget`` (and ``CHECK spent <= budget``
  behind it), so no concurrency overspends. ``promo_uses``: every application; a rule
  that applies once per card uses the card as ``once_key`` (unique per promotion).
"""
from __future__ import annotations

from sqlalchemy import (BigInteger, Boolean, CheckConstraint, Column, ForeignKey, Index, Integer, String, Table,
                        UniqueConstraint)

from billing_core.db.schema import Id, metadata

SITE_KINDS = ("agency", "technical")
DECODER_STATES = ("in_stock", "at_site", "at_dealer", "sold", "installed", "faulty", "swapped")
PROMO_KINDS = ("bonus", "free_addon", "discount", "reconnect")

sites = Table(
    "sites",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("code", String(32), nullable=False, unique=True),
    Column("name", String(128), nullable=False),
    Column("region", String(64), nullable=False, server_default=""),
    Column("kind", String(12), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    CheckConstraint("kind IN ('agency', 'technical')", name="kind"),
    Index(None, "region"),
)

decoders = Table(
    "decoders",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("serial", String(32), nullable=False, unique=True),
    Column("smartcard", String(20), nullable=True, unique=True),
    Column("state", String(12), nullable=False),
    Column("site_id", Id, ForeignKey("sites.id"), nullable=True),
    Column("dealer_id", Id, ForeignKey("dealers.id"), nullable=True),
    Column("card", String(20), nullable=True),  # the subscriber's card it was sold or installed to
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    CheckConstraint("state IN ('in_stock', 'at_site', 'at_dealer', 'sold', 'installed', 'faulty', 'swapped')",
                    name="state"),
    Index(None, "state", "site_id"),
    Index(None, "card"),
)

decoder_movements = Table(
    "decoder_movements",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("decoder_id", Id, ForeignKey("decoders.id"), nullable=False),
    Column("action", String(16), nullable=False),
    Column("from_state", String(12), nullable=True),
    Column("to_state", String(12), nullable=False),
    Column("site_id", Id, ForeignKey("sites.id"), nullable=True),
    Column("dealer_id", Id, ForeignKey("dealers.id"), nullable=True),
    Column("card", String(20), nullable=True),
    Column("note", String(255), nullable=False, server_default=""),
    Column("created_by", String(64), nullable=False, server_default=""),
    Column("created_at", BigInteger, nullable=False),
    Index(None, "decoder_id", "id"),
    Index(None, "created_at"),
)

card_swaps = Table(
    "card_swaps",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("subscriber_id", Id, ForeignKey("subscribers.id"), nullable=False),
    Column("old_card", String(20), nullable=False),
    Column("new_card", String(20), nullable=False),
    Column("reason", String(255), nullable=False, server_default=""),
    Column("created_by", String(64), nullable=False, server_default=""),
    Column("created_at", BigInteger, nullable=False),
    Index(None, "old_card"),
    Index(None, "new_card"),
)

products = Table(
    "products",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("code", String(32), nullable=False, unique=True),
    Column("name", String(128), nullable=False),
    Column("active", Boolean, nullable=False, server_default="1"),
    Column("created_at", BigInteger, nullable=False),
)

product_prices = Table(
    "product_prices",
    metadata,
    Column("product_id", Id, ForeignKey("products.id"), primary_key=True),
    Column("currency", String(3), primary_key=True),
    Column("price_minor", BigInteger, nullable=False),
    CheckConstraint("price_minor > 0", name="price_positive"),
)

product_sales = Table(
    "product_sales",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("product_id", Id, ForeignKey("products.id"), nullable=False),
    Column("site_id", Id, ForeignKey("sites.id"), nullable=True),
    Column("dealer_id", Id, ForeignKey("dealers.id"), nullable=True),
    Column("card", String(20), nullable=True),
    Column("qty", Integer, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("unit_minor", BigInteger, nullable=False),
    Column("total_minor", BigInteger, nullable=False),
    Column("entry_id", Id, ForeignKey("journal_entries.id"), nullable=False),
    Column("created_by", String(64), nullable=False, server_default=""),
    Column("created_at", BigInteger, nullable=False),
    CheckConstraint("(site_id IS NULL) <> (dealer_id IS NULL)", name="one_seller"),
    CheckConstraint("qty > 0", name="qty_positive"),
    Index(None, "created_at"),
)

promotions = Table(
    "promotions",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("name", String(32), nullable=False, unique=True),
    Column("kind", String(12), nullable=False),
    Column("starts_at", BigInteger, nullable=False),
    Column("ends_at", BigInteger, nullable=False),
    Column("budget", BigInteger, nullable=False),
    Column("spent", BigInteger, nullable=False, server_default="0"),
    Column("percent_bp", Integer, nullable=False, server_default="0"),  # basis points: 1000 is 10%
    Column("min_minor", BigInteger, nullable=True),
    Column("min_currency", String(3), nullable=True),
    Column("package_code", String(32), nullable=False, server_default=""),
    Column("days", Integer, nullable=False, server_default="0"),
    Column("lapsed_days", Integer, nullable=False, server_default="0"),
    Column("status", String(8), nullable=False, server_default="active"),
    Column("created_by", String(64), nullable=False, server_default=""),
    Column("created_at", BigInteger, nullable=False),
    Column("ended_at", BigInteger, nullable=True),
    CheckConstraint("kind IN ('bonus', 'free_addon', 'discount', 'reconnect')", name="kind"),
    CheckConstraint("status IN ('active', 'ended')", name="status"),
    CheckConstraint("spent >= 0 AND spent <= budget", name="within_budget"),
    CheckConstraint("ends_at > starts_at", name="window"),
)

promo_uses = Table(
    "promo_uses",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("promotion_id", Id, ForeignKey("promotions.id"), nullable=False),
    Column("card", String(20), nullable=False),
    Column("once_key", String(64), nullable=True),
    Column("cost", BigInteger, nullable=False),  # what it took from the budget
    Column("tvu", BigInteger, nullable=False, server_default="0"),
    Column("days", Integer, nullable=False, server_default="0"),
    Column("amount_minor", BigInteger, nullable=True),  # the payment that earned it, if any
    Column("currency", String(3), nullable=True),
    Column("entry_id", Id, ForeignKey("journal_entries.id"), nullable=True),
    Column("created_at", BigInteger, nullable=False),
    UniqueConstraint("promotion_id", "once_key"),
    Index(None, "promotion_id", "created_at"),
    Index(None, "card"),
)

__all__ = ["sites", "decoders", "decoder_movements", "card_swaps", "products", "product_prices", "product_sales",
           "promotions", "promo_uses", "SITE_KINDS", "DECODER_STATES", "PROMO_KINDS"]
