"""Sites: the operator's agencies and technical sites, each in a region.

Decoders, product sales and agency payments (``payment record --site CODE``) belong to a
site; ``report sites`` adds up what each site and region did. Dealers keep their own
sales points (``dealer site``) with a region: their top-ups are reported by that region.
"""
from __future__ import annotations

import re

from billing_core.context import Billing
from billing_core.db import stock_store as store
from billing_core.errors import InvalidInput

KINDS = ("agency", "technical")
CODE = re.compile(r"[A-Z0-9][A-Z0-9_-]{0,31}")


def site_code(text: str) -> str:
    code = (text or "").strip().upper()
    if not CODE.fullmatch(code):
        raise InvalidInput("a site code is 1-32 letters, digits, '-' or '_'")
    return code


async def add_site(billing: Billing, code: str, *, name: str, region: str = "", kind: str = "agency") -> dict:
    name, region = (name or "").strip(), (region or "").strip()
    if not name or len(name) > 128:
        raise InvalidInput("a site needs a name of at most 128 characters")
    if len(region) > 64:
        raise InvalidInput("a region is at most 64 characters")
    if kind not in KINDS:
        raise InvalidInput(f"kind must be one of {', '.join(KINDS)}")
    return await billing.db.write(store.insert_site, site_code(code), name, region, kind, billing.now())


async def list_sites(billing: Billing) -> list[dict]:
    return await billing.db.read(store.list_sites)


async def report(billing: Billing, since: int | None = None, until: int | None = None) -> list[dict]:
    """Per region and site: product sales, decoder movements, payments taken; dealer top-ups per
    region of the dealer's sales point. One line per currency: amounts are never added across."""
    return await billing.db.read(store.site_report, since, until)


__all__ = ["KINDS", "site_code", "add_site", "list_sites", "report"]
