"""Decoder stock and smartcard swaps through the use cases, on SQLite and PostgreSQL."""
from __future__ import annotations

from collections import Counter

import pytest

from billing_core import ledger, sites, stock, subscriptions
from billing_core.context import Billing
from billing_core.db import ledger_store, outbox_store
from billing_core.errors import AlreadyExists, DecoderState, InvalidImport, InvalidInput, UnknownCard, UnknownSite
from billing_core.renewal import DAY_S, iso
from tv_notify.events import GRANT, REVOKE, SMS

CARD, NEW_CARD = "30000001", "30000009"
PHONE = "+254712345678"


async def books_balance(billing: Billing) -> None:
    totals = Counter()
    for _code, unit, amount in await billing.db.read(ledger_store.trial_balance):
        totals[unit] += amount
    assert set(totals.values()) <= {0}, totals


async def with_sites(billing: Billing) -> None:
    await sites.add_site(billing, "NBO1", name="Nairobi agency", region="Nairobi", kind="agency")
    await sites.add_site(billing, "MSA-T", name="Mombasa workshop", region="Coast", kind="technical")


async def test_a_decoder_is_followed_from_stock_to_installation_and_swap(billing: Billing, clock) -> None:
    await with_sites(billing)
    await stock.add_decoder(billing, "dec-0001", smartcard=CARD, by="store")
    clock.advance(60)
    await stock.move_decoder(billing, "DEC-0001", "site:NBO1", by="driver")
    clock.advance(60)
    await stock.install_decoder(billing, "DEC-0001", CARD, by="tech")
    await stock.add_decoder(billing, "DEC-0002", site="NBO1")
    clock.advance(60)
    await stock.fault_decoder(billing, "DEC-0001", note="no signal", by="tech")
    done = await stock.swap_decoder(billing, "DEC-0001", "DEC-0002", CARD, by="tech")
    assert (done["old"]["state"], done["old"]["smartcard"]) == ("swapped", None)
    assert (done["new"]["state"], done["new"]["smartcard"], done["new"]["card"]) == ("installed", CARD, CARD)
    await stock.move_decoder(billing, "DEC-0001", "site:MSA-T", by="driver")  # back for repair

    shown = await stock.show_decoder(billing, "DEC-0001")
    assert [(h["action"], h["to"], h["site"], h["by"]) for h in shown["history"]] == [
        ("add", "in_stock", None, "store"), ("move", "at_site", "NBO1", "driver"),
        ("install", "installed", "NBO1", "tech"), ("fault", "faulty", "NBO1", "tech"),
        ("swap_out", "swapped", None, "tech"), ("move", "swapped", "MSA-T", "driver")]
    assert shown["history"][1]["at"] == iso(clock.now - 120)
    counts = {(r["site"], r["state"]): r["decoders"] for r in await stock.report(billing)}
    assert counts == {("MSA-T", "swapped"): 1, ("NBO1", "installed"): 1}


async def test_decoder_states_refuse_what_cannot_happen(billing: Billing) -> None:
    await with_sites(billing)
    await stock.add_decoder(billing, "DEC-0001", smartcard=CARD)
    await stock.add_decoder(billing, "DEC-0002")
    with pytest.raises(DecoderState):
        await stock.install_decoder(billing, "DEC-0001", NEW_CARD)  # paired with another smartcard
    await stock.install_decoder(billing, "DEC-0001", CARD)
    with pytest.raises(DecoderState):
        await stock.move_decoder(billing, "DEC-0001", "site:NBO1", by="x")  # installed: swap it instead
    with pytest.raises(DecoderState):
        await stock.install_decoder(billing, "DEC-0001", CARD)
    with pytest.raises(DecoderState):
        await stock.swap_decoder(billing, "DEC-0002", "DEC-0001", CARD)  # DEC-0002 is not installed
    with pytest.raises(DecoderState):
        await stock.swap_decoder(billing, "DEC-0001", "DEC-0002", NEW_CARD)  # not the decoder of that card
    with pytest.raises(UnknownSite):
        await stock.move_decoder(billing, "DEC-0002", "site:NOPE", by="x")
    with pytest.raises(InvalidInput):
        await stock.move_decoder(billing, "DEC-0002", "warehouse", by="x")
    with pytest.raises(AlreadyExists):
        await stock.add_decoder(billing, "DEC-0003", smartcard=CARD)  # the smartcard is paired already
    shown = await stock.show_decoder(billing, "DEC-0001")
    assert shown["state"] == "installed" and len(shown["history"]) == 2


async def test_import_takes_every_row_or_none(billing: Billing) -> None:
    await with_sites(billing)
    bad = "serial,smartcard,site\nDEC-1001,,NBO1\nDEC-1002,30000002,NOPE\n"
    with pytest.raises(UnknownSite):
        await stock.import_decoders(billing, bad)
    with pytest.raises(InvalidImport):
        await stock.import_decoders(billing, "serial,smartcard,site\nDEC-1001,,\nDEC-1001,,\n")
    with pytest.raises(InvalidImport):
        await stock.import_decoders(billing, "serial,smartcard,site\nDEC-1001,12,\n")
    assert await stock.report(billing) == []
    assert await stock.import_decoders(billing, "serial,smartcard,site\nDEC-1001,,NBO1\nDEC-1002,30000002,\n") == 2
    counts = {(r["site"], r["state"]): r["decoders"] for r in await stock.report(billing)}
    assert counts == {("NBO1", "at_site"): 1, ("-", "in_stock"): 1}


# ---- smartcard swap -------------------------------------------------------------------------

async def active_subscriber(billing: Billing) -> subscriptions.SubscriberView:
    await subscriptions.add_package(billing, "BASIC", "Basic", 30, 100, ("101", "102"))
    await subscriptions.add_subscriber(billing, CARD, PHONE, package="BASIC")
    credited = await subscriptions.credit_tvu(billing, CARD, 250, source=ledger.TVU_OPENING, ref="t", kind="opening")
    assert credited.renewed
    return credited.subscriber


async def test_a_smartcard_swap_keeps_the_subscription_and_moves_the_entitlement(billing: Billing, clock) -> None:
    before = await active_subscriber(billing)
    await stock.add_decoder(billing, "DEC-0001", smartcard=CARD)
    await stock.install_decoder(billing, "DEC-0001", CARD)
    clock.advance(DAY_S)
    done = await stock.swap_card(billing, CARD, NEW_CARD, reason="card broken", by="olga")
    assert (done["card"], done["status"], done["package"]) == (NEW_CARD, "active", "BASIC")

    after = await subscriptions.show_subscriber(billing, NEW_CARD)
    assert (after.status, after.package, after.expires_at, after.wallet_tvu, after.msisdn) == \
        ("active", "BASIC", before.expires_at, 150, PHONE)
    assert [r["kind"] for r in after.recent][:2] == ["renewal", "opening"]  # the wallet's history came along
    with pytest.raises(UnknownCard):
        await subscriptions.show_subscriber(billing, CARD)
    old_events = [e.kind for e in await billing.db.read(outbox_store.for_card, CARD)]
    assert old_events[0] == REVOKE
    new_events = list(reversed(await billing.db.read(outbox_store.for_card, NEW_CARD)))
    [grant] = [e for e in new_events if e.kind == GRANT]
    assert (grant.payload["products"], grant.payload["until"]) == (["101", "102"], iso(before.expires_at))
    assert any(CARD in e.payload["text"] for e in new_events if e.kind == SMS)
    assert await billing.db.read(ledger_store.balance, ledger.wallet_account(NEW_CARD), "TVU") == -150
    assert await billing.db.read(ledger_store.balance, ledger.wallet_account(CARD), "TVU") == 0
    shown = await stock.show_decoder(billing, "DEC-0001")
    assert (shown["smartcard"], shown["card"], shown["history"][-1]["action"]) == (NEW_CARD, NEW_CARD, "card_swap")

    # the new card takes credit into the same wallet and renews as before
    await subscriptions.credit_tvu(billing, NEW_CARD, 50, source=ledger.TVU_OPENING, ref="t2", kind="opening")
    renewed = await subscriptions.renew(billing, NEW_CARD)
    assert (renewed.wallet_tvu, renewed.expires_at) == (100, before.expires_at + 30 * DAY_S)
    await books_balance(billing)


async def test_a_swap_onto_a_registered_card_changes_nothing(billing: Billing) -> None:
    await active_subscriber(billing)
    await subscriptions.add_subscriber(billing, NEW_CARD, PHONE, package="BASIC")
    with pytest.raises(AlreadyExists):
        await stock.swap_card(billing, CARD, NEW_CARD)
    assert (await subscriptions.show_subscriber(billing, CARD)).wallet_tvu == 150
    assert (await subscriptions.show_subscriber(billing, NEW_CARD)).wallet_tvu == 0
    with pytest.raises(UnknownCard):
        await stock.swap_card(billing, "30000005", "30000006")
    await books_balance(billing)
