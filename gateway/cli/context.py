"""The billing context every operator verb runs in: a migrated database, closed afterwards.

A module of its own so that each verb module imports it at the top (``commands`` imports
the verb modules, so they cannot import it from there).
"""
from __future__ import annotations

import contextlib
from typing import AsyncIterator

from billing_core.context import Billing
from billing_core.db.database import database_from_settings
from billing_core.db.migrate import upgrade
from config.settings import Settings


@contextlib.asynccontextmanager
async def open_billing(settings: Settings) -> AsyncIterator[Billing]:
    """The billing context on a migrated database, closed afterwards."""
    await upgrade(settings.database.url)
    db = database_from_settings(settings)
    try:
        yield Billing.from_settings(settings, db)
    finally:
        await db.close()


__all__ = ["open_billing"]
