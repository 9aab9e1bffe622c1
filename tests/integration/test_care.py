"""Customer care on SQLite and PostgreSQL: edit, suspend, resume, terminate, swap-card,
the lapsed list and the operator's notices."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from billing_core import care, payments, reports, stock, subscriptions
from billing_core.audit import Actor
from billing_core.db.payment_store import PaymentNotice
from billing_core.db.schema import outbox
from billing_core.db.schema_admin import audit_log
from billing_core.errors import (Conflict, InvalidInput, InvalidMsisdn, SubscriberBlocked, UnknownCard,
                                 UnknownPackage)
from billing_core.money import Money
from billing_core.renewal import DAY_S

CARD, OTHER = "40000001", "40000002"
PHONE = "+254712345678"
ANN = Actor("ann")


async def setup(billing, *cards: str) -> None:
    await subscriptions.add_package(billing, "BASIC", "Basic", 30, 150, ("101", "102"))
    for card in cards or (CARD,):
        await subscriptions.add_subscriber(billing, card, PHONE, package="BASIC", lang="en")


async def pay(billing, txid: str, kes: int, card: str = CARD):
    return await payments.record_payment(billing, PaymentNotice("mpesa", txid, card, Money(kes * 100, "KES")))


async def events_of(billing, card: str) -> list[tuple[str, dict]]:
    rows = await billing.db.read(lambda c: c.execute(select(outbox.c.kind, outbox.c.payload, outbox.c.next_attempt_at)
                                                     .where(outbox.c.card == card).order_by(outbox.c.id)).all())
    return [(r.kind, {**json.loads(r.payload), "due": r.next_attempt_at}) for r in rows]


async def audits(billing, action: str) -> list[dict]:
    rows = await billing.db.read(lambda c: c.execute(select(audit_log).where(audit_log.c.action == action)).all())
    return [{"actor": r.actor, "target": r.target, **json.loads(r.details)} for r in rows]


async def balanced(billing) -> None:
    totals: dict[str, int] = {}
    for line in await reports.trial_balance(billing):
        totals[line.unit] = totals.get(line.unit, 0) + line.balance
    assert all(t == 0 for t in totals.values()), totals


# ---- edit -----------------------------------------------------------------------------------

async def test_edit_changes_phone_name_language_and_region_and_is_audited(billing):
    await setup(billing)
    done = await care.edit_subscriber(billing, CARD, actor=ANN, msisdn="0722000111", name="Achieng", lang="sw",
                                      region="Nyanza")
    shown = done.to_json()
    assert (shown["msisdn"], shown["name"], shown["lang"], shown["region"]) == \
        ("+254722000111", "Achieng", "sw", "Nyanza")
    [record] = await audits(billing, "subscriber.edit")
    assert record["actor"] == "ann" and record["before"]["msisdn"] == PHONE


@pytest.mark.parametrize("kwargs, error", [
    ({"msisdn": "12345"}, InvalidMsisdn),
    ({"lang": "de"}, InvalidInput),
    ({}, InvalidInput),
])
async def test_bad_edits_are_refused_and_change_nothing(billing, kwargs, error):
    await setup(billing)
    with pytest.raises(error):
        await care.edit_subscriber(billing, CARD, actor=ANN, **kwargs)
    with pytest.raises(UnknownCard):
        await care.edit_subscriber(billing, "49999999", actor=ANN, name="x")
    sub = await subscriptions.show_subscriber(billing, CARD)
    assert (sub.msisdn, sub.lang) == (PHONE, "en")
    assert await audits(billing, "subscriber.edit") == []


# ---- suspend, resume, terminate ---------------------------------------------------------------

async def test_suspend_revokes_after_a_notice_keeps_the_wallet_and_blocks_renewal(billing, clock):
    await setup(billing)
    await pay(billing, "QAB0000001", 350)  # renews, 200 left
    clock.advance(DAY_S)

    done = await care.suspend_subscriber(billing, CARD, reason="fraud check", actor=ANN)

    assert (done.to_json()["status"], done.to_json()["wallet_tvu"]) == ("suspended", 200)
    kinds = [k for k, _ in await events_of(billing, CARD)][-3:]
    assert kinds == ["osd.message", "sms.send", "entitlement.revoke"]
    with pytest.raises(SubscriberBlocked):
        await subscriptions.renew(billing, CARD)
    held = await pay(billing, "QAB0000002", 200)  # a payment meanwhile is held, not credited
    assert held.status == "suspense"
    with pytest.raises(SubscriberBlocked):
        await care.suspend_subscriber(billing, CARD, reason="again", actor=ANN)
    await balanced(billing)


async def test_resume_grants_again_with_the_suspended_time_credited(billing, clock):
    await setup(billing)
    await pay(billing, "QAB0000001", 150)
    expires = (await subscriptions.show_subscriber(billing, CARD)).expires_at
    clock.advance(DAY_S)
    await care.suspend_subscriber(billing, CARD, reason="moving house", actor=ANN)
    clock.advance(3 * DAY_S)

    done = await care.resume_subscriber(billing, CARD, actor=ANN, credit_suspended_time=True)

    shown = done.to_json()
    assert (shown["status"], done.extra["credited_s"]) == ("active", 3 * DAY_S)
    sub = await subscriptions.show_subscriber(billing, CARD)
    assert sub.expires_at == expires + 3 * DAY_S
    grant = [p for k, p in await events_of(billing, CARD) if k == "entitlement.grant"][-1]
    assert grant["products"] == ["101", "102"]
    with pytest.raises(Conflict, match="not suspended"):
        await care.resume_subscriber(billing, CARD, actor=ANN, credit_suspended_time=True)


async def test_resume_without_credit_keeps_the_expiry_and_a_lapsed_card_renews_from_its_wallet(billing, clock):
    await setup(billing)
    await pay(billing, "QAB0000001", 300)  # renews, 150 left
    expires = (await subscriptions.show_subscriber(billing, CARD)).expires_at
    await care.suspend_subscriber(billing, CARD, reason="unpaid dues", actor=ANN)
    clock.advance(40 * DAY_S)  # the paid period ran out during the suspension

    done = await care.resume_subscriber(billing, CARD, actor=ANN, credit_suspended_time=False)

    assert done.extra == {"credited_s": 0, "renewed": True}
    sub = await subscriptions.show_subscriber(billing, CARD)
    assert (sub.status, sub.wallet_tvu) == ("active", 0) and sub.expires_at > expires
    await balanced(billing)


async def test_terminate_is_final_and_reports_the_wallet(billing):
    await setup(billing)
    await pay(billing, "QAB0000001", 100)

    done = await care.terminate_subscriber(billing, CARD, reason="contract ended", actor=ANN)

    assert (done.extra["refund_due"], done.extra["refund_due_tvu"], done.to_json()["terminated"]) == \
        ("KES 100.00", 100, True)
    with pytest.raises(Conflict, match="terminated"):
        await care.resume_subscriber(billing, CARD, actor=ANN, credit_suspended_time=True)
    with pytest.raises(Conflict):
        await care.terminate_subscriber(billing, CARD, reason="again", actor=ANN)
    assert [a["why"] for a in await audits(billing, "subscriber.terminate")] == ["contract ended"]


async def test_swap_card_keeps_history_wallet_and_package_and_revokes_the_old_card(billing):
    await setup(billing)
    await pay(billing, "QAB0000001", 200)  # renews, 50 left
    await care.edit_subscriber(billing, CARD, actor=ANN, region="Coast")

    await stock.swap_card(billing, CARD, "40000099", reason="damaged", by="ann")

    moved = await subscriptions.show_subscriber(billing, "40000099")
    assert (moved.package, moved.wallet_tvu, moved.status) == ("BASIC", 50, "active")
    assert any(r["kind"] == "payment" for r in moved.recent)  # the wallet's history came along
    assert [k for k, _ in await events_of(billing, CARD)][-1] == "entitlement.revoke"
    assert (await care.lapsed(billing, days=30, region="Coast")) == []  # region kept, nothing lapsed
    with pytest.raises(UnknownCard):
        await subscriptions.show_subscriber(billing, CARD)


# ---- lapsed ---------------------------------------------------------------------------------

async def test_lapsed_lists_recently_lapsed_cards_with_phone_package_and_last_payment(billing, clock):
    await setup(billing, CARD, OTHER, "40000003")
    await pay(billing, "QAB0000001", 150, CARD)
    await pay(billing, "QAB0000002", 150, OTHER)
    await care.edit_subscriber(billing, OTHER, actor=ANN, region="Coast")
    clock.advance(35 * DAY_S)  # both ran out 5 days ago; 40000003 never paid

    found = await care.lapsed(billing, days=30)

    assert [(r["card"], r["msisdn"], r["package"], r["days_lapsed"], r["last_payment"]) for r in found] == \
        [(CARD, PHONE, "BASIC", 5, "KES 150.00"), (OTHER, PHONE, "BASIC", 5, "KES 150.00")]
    assert found[0]["expired_at"].endswith("Z")
    assert [r["card"] for r in await care.lapsed(billing, days=30, region="Coast")] == [OTHER]
    assert await care.lapsed(billing, days=3) == []
    with pytest.raises(InvalidInput):
        await care.lapsed(billing, days=0)


# ---- the operator's notices -----------------------------------------------------------------

async def test_notify_dry_run_counts_then_sends_throttled_through_the_outbox(billing):
    await setup(billing, CARD, OTHER, "40000003")
    await pay(billing, "QAB0000001", 150, CARD)
    await pay(billing, "QAB0000002", 150, OTHER)
    before = await billing.db.read(lambda c: c.execute(select(func.count()).select_from(outbox)).scalar_one())

    dry = await care.send_notice(billing, "Outage tonight 22:00-23:00", channel="osd", actor=ANN, package="BASIC",
                                 dry_run=True)
    assert (dry.recipients, dry.queued) == (2, 0)
    after_dry = await billing.db.read(lambda c: c.execute(select(func.count()).select_from(outbox)).scalar_one())
    assert after_dry == before

    sent = await care.send_notice(billing, "Outage tonight 22:00-23:00", channel="osd", actor=ANN, everyone=True,
                                  per_second=2)
    assert (sent.recipients, sent.queued, sent.seconds_to_send) == (3, 3, 1)
    osd = [p for k, p in await events_of(billing, "40000003") if k == "osd.message"]
    assert osd[-1]["text"] == "Outage tonight 22:00-23:00" and osd[-1]["due"] == billing.now() + 1

    sms = await care.send_notice(billing, "New channels!", channel="sms", actor=ANN, everyone=True)
    assert sms.recipients == 1  # three cards, one phone: one SMS
    assert [a["recipients"] for a in await audits(billing, "notify.send")] == [3, 1]


async def test_notify_refuses_bad_targets(billing):
    await setup(billing)
    with pytest.raises(UnknownCard):
        await care.send_notice(billing, "hi", channel="osd", actor=ANN, card="49999999")
    with pytest.raises(UnknownPackage):
        await care.send_notice(billing, "hi", channel="sms", actor=ANN, package="NOPE")
    with pytest.raises(InvalidInput):
        await care.send_notice(billing, "hi", channel="osd", actor=ANN, card=CARD, everyone=True)
    with pytest.raises(InvalidInput):
        await care.send_notice(billing, " ", channel="osd", actor=ANN, card=CARD)


CARE_TABLES = {"payment_corrections", "cheques", "refunds", "subscriber_care"}


def test_migration_0018_goes_down_and_up(tmp_path):
    from alembic import command
    from sqlalchemy import create_engine, inspect

    from billing_core.db.migrate import alembic_config

    url = f"sqlite:///{tmp_path / 'm.db'}"
    command.upgrade(alembic_config(url), "head")
    command.downgrade(alembic_config(url), "0017")
    engine = create_engine(url)
    assert not CARE_TABLES & set(inspect(engine).get_table_names())
    command.upgrade(alembic_config(url), "head")
    assert CARE_TABLES <= set(inspect(engine).get_table_names())
    engine.dispose()


async def test_the_tables_match_the_migration(billing):
    """The schema module and migration 0018 agree on every column of the new tables."""
    from sqlalchemy import inspect

    from billing_core.db.schema_care import cheques, payment_corrections, refunds, subscriber_care

    tables = (payment_corrections, cheques, refunds, subscriber_care)
    found = await billing.db.read(lambda conn: {t.name: {c["name"] for c in inspect(conn).get_columns(t.name)}
                                                for t in tables})
    assert found == {t.name: {c.name for c in t.columns} for t in tables}
