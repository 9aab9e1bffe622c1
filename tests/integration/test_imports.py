"""``subscriber import`` on SQLite and PostgreSQL: an imported row is treated as the scheduler
treats its own subscriptions, its events written in the import's transaction."""
from __future__ import annotations

import pytest

from billing_core import imports, subscriptions
from billing_core.db import outbox_store
from billing_core.errors import InvalidImport
from billing_core.renewal import DAY_S, iso
from tv_notify.events import GRANT, OSD, REVOKE, SMS

PRICE, DAYS = 100, 30
HEADER = "card,msisdn,package,name,lang,expires_at,wallet_tvu\n"


def row(card: str, expires_at: int | None, wallet: int) -> str:
    return f"{card},+254712345678,BASIC,Imported,en,{iso(expires_at) if expires_at else ''},{wallet}\n"


async def kinds(billing, card: str) -> list[str]:
    """The card's events, in outbox order."""
    return [e.kind for e in sorted(await billing.db.read(outbox_store.for_card, card), key=lambda e: e.id)]


@pytest.fixture
async def basic(billing):
    await subscriptions.add_package(billing, "BASIC", "Basic", DAYS, PRICE, ("101",))
    return billing


async def test_a_past_expiry_with_a_covering_wallet_is_renewed_from_the_wallet(basic, clock):
    billing = basic
    assert await imports.import_subscribers(billing, HEADER + row("20000001", clock.now - DAY_S, 250)) == 1
    sub = await subscriptions.show_subscriber(billing, "20000001")
    assert (sub.status, sub.wallet_tvu) == ("active", 250 - PRICE)
    assert sub.expires_at > clock.now
    assert await kinds(billing, "20000001") == [GRANT, OSD, SMS]


async def test_a_past_expiry_with_a_short_wallet_is_revoked_and_told(basic, clock):
    billing = basic
    await imports.import_subscribers(billing, HEADER + row("20000002", clock.now - DAY_S, PRICE - 1))
    sub = await subscriptions.show_subscriber(billing, "20000002")
    assert (sub.status, sub.wallet_tvu) == ("expired", PRICE - 1)
    assert await kinds(billing, "20000002") == [REVOKE, OSD, SMS]


async def test_future_and_past_rows_of_one_file_each_get_their_own_outcome(basic, clock):
    billing = basic
    text = HEADER + row("20000003", clock.now + 5 * DAY_S, 0) + row("20000004", clock.now - 1, PRICE) \
        + row("20000005", clock.now - 3 * DAY_S, 0) + row("20000006", None, 0)
    assert await imports.import_subscribers(billing, text) == 4
    statuses = {c: (await subscriptions.show_subscriber(billing, c)).status
                for c in ("20000003", "20000004", "20000005", "20000006")}
    assert statuses == {"20000003": "active", "20000004": "active", "20000005": "expired", "20000006": "new"}
    assert await kinds(billing, "20000003") == [GRANT]
    assert await kinds(billing, "20000004") == [GRANT, OSD, SMS]
    assert await kinds(billing, "20000005") == [REVOKE, OSD, SMS]
    assert await kinds(billing, "20000006") == []


async def test_a_bad_row_leaves_nothing_behind(basic, clock):
    billing = basic
    text = HEADER + row("20000007", clock.now - DAY_S, 250) + "20000008,+254712345678,NOPE,,,,0\n"
    with pytest.raises(InvalidImport):
        await imports.import_subscribers(billing, text)
    assert await kinds(billing, "20000007") == []
    with pytest.raises(Exception):
        await subscriptions.show_subscriber(billing, "20000007")


async def test_within_the_grace_period_an_import_waits_and_the_scheduler_expires_it(basic, clock):
    from billing_core.notifications import sweep_expiry

    billing = basic
    await imports.import_subscribers(billing, HEADER + row("20000009", clock.now - DAY_S, 0), grace_s=2 * DAY_S)
    assert await kinds(billing, "20000009") == []  # left active, for the scheduler to decide
    clock.advance(DAY_S)
    assert await sweep_expiry(billing, grace_s=2 * DAY_S) == {"renewed": 0, "expired": 1}
    assert await kinds(billing, "20000009") == [REVOKE, OSD, SMS]
