"""``reconcile mpesa``: a statement against our payments, on SQLite and on PostgreSQL."""
from __future__ import annotations

import argparse
import json

from billing_core import payments, reports, subscriptions
from billing_core.money import Money
from gateway.providers.mpesa import wire
from gateway.providers.mpesa.cli import register_reconcile
from gateway.providers.mpesa.reconcile import reconcile

CARD, PHONE = "10000001", "+254712345678"
STATEMENT = """\
Organisation Statement,,,,
"Receipt No.","Completion Time","Initiation Time","Details","Transaction Status","Paid In","Withdrawn","Balance","Balance Confirmed","Reason Type","Other Party Info","Linked Transaction ID","A/C No."
RKA0000001,2027-01-15 10:00:00,2027-01-15 10:00:00,Pay Bill from 254712***678 - JOHN DOE Acc. 10000001,Completed,500.00,,10500.00,true,Pay Bill Online,254712***678 - JOHN DOE,,10000001
RKA0000008,2027-01-15 10:20:00,2027-01-15 10:20:00,Pay Bill from 254712***678 - JOHN DOE Acc. 10000001,Completed,150.00,,10650.00,true,Pay Bill Online,254712***678 - JOHN DOE,,10000001
RKA0000002,2027-01-15 10:45:00,2027-01-15 10:45:00,Pay Bill from 254722***111 - JANE ROE Acc. 10000001,Completed,"1,300.00",,11950.00,true,Pay Bill Online,254722***111 - JANE ROE,,10000001
RKA0000005,2027-01-15 10:46:00,2027-01-15 10:46:00,Pay Bill Charge,Completed,,-5.00,11945.00,true,Pay Bill Charge,,RKA0000002,
RKA0000004,2027-01-15 10:50:00,2027-01-15 10:50:00,Pay Bill from 254733***222 - ANN POE Acc. 10000001,Completed,200.00,,12145.00,true,Pay Bill Online,254733***222 - ANN POE,,10000001
RKA0000006,2027-01-15 10:55:00,2027-01-15 10:55:00,Reversal,Completed,,-200.00,11945.00,true,Reversal,,RKA0000004,
RKA0000007,2027-01-15 10:58:00,2027-01-15 10:58:00,Pay Bill from 254712***678 - JOHN DOE Acc. 10000001,Failed,300.00,,11945.00,true,Pay Bill Online,254712***678 - JOHN DOE,,10000001
"""


async def paid(billing, txid: str, trans_time: str, amount: str) -> None:
    doc = {"TransactionType": "Pay Bill", "TransID": txid, "TransTime": trans_time, "TransAmount": amount,
           "BusinessShortCode": "600638", "BillRefNumber": CARD, "MSISDN": "25470****149"}
    await payments.record_payment(billing, wire.notice(wire.parse_c2b(doc), json.dumps(doc)))


async def books(billing) -> None:
    """A subscriber, and our M-Pesa payments: one matched, one of another amount, one ours only,
    one outside the statement's span."""
    await subscriptions.add_package(billing, "BASIC", "Basic bouquet", 30, 300, ("p1",))
    await subscriptions.add_subscriber(billing, CARD, PHONE, package="BASIC")
    await paid(billing, "RKA0000001", "20270115100000", "500.00")
    await paid(billing, "RKA0000008", "20270115102000", "100.00")
    await paid(billing, "RKA0000003", "20270115103000", "50.00")
    await paid(billing, "RKA0000009", "20270115120000", "50.00")


async def balanced(billing) -> bool:
    totals: dict[str, int] = {}
    for line in await reports.trial_balance(billing):
        totals[line.unit] = totals.get(line.unit, 0) + line.balance
    return all(total == 0 for total in totals.values())


async def test_statement_against_our_books_then_ingest_once(billing):
    await books(billing)
    wallet = (await subscriptions.show_subscriber(billing, CARD)).wallet_tvu
    report = await reconcile(billing, STATEMENT, ingest=False)
    assert report.matched == 2
    assert [(p.receipt, p.amount, p.account, p.line) for p in report.provider_only] == \
        [("RKA0000002", Money(130000, "KES"), CARD, 5)]
    assert report.ours_only == ("RKA0000003",)  # RKA0000009 is after the statement's last row
    assert [(s.receipt, str(s.amount), str(o.amount)) for s, o in report.amount_differs] == \
        [("RKA0000008", "KES 150.00", "KES 100.00")]
    assert report.reversed == () and report.ingested == () and not report.clean
    assert (await subscriptions.show_subscriber(billing, CARD)).wallet_tvu == wallet  # nothing recorded

    report = await reconcile(billing, STATEMENT, ingest=True)
    [ingested] = report.ingested
    assert (ingested.txid, ingested.status, ingested.tvu, ingested.duplicate) == ("RKA0000002", "credited", 1300, False)
    assert (await subscriptions.show_subscriber(billing, CARD)).wallet_tvu == wallet + 1300

    again = await reconcile(billing, STATEMENT, ingest=True)
    assert (again.matched, again.provider_only, again.ingested) == (3, (), ())
    assert (await subscriptions.show_subscriber(billing, CARD)).wallet_tvu == wallet + 1300
    assert await balanced(billing)


async def test_a_reversed_payment_is_never_ingested_and_flagged_when_ours(billing):
    await books(billing)
    await paid(billing, "RKA0000004", "20270115105000", "200.00")
    report = await reconcile(billing, STATEMENT, ingest=True)
    assert report.reversed == ("RKA0000004",)
    assert [p.txid for p in report.ingested] == ["RKA0000002"]


async def test_the_cli_verb(make_settings, billing, tmp_path, capsys):
    await books(billing)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS)
    parser = argparse.ArgumentParser(prog="tvtopup", parents=[common])
    register_reconcile(parser.add_subparsers(dest="verb", required=True), common)
    statement = tmp_path / "statement.csv"
    statement.write_text(STATEMENT, encoding="utf-8")
    args = parser.parse_args(["reconcile", "mpesa", str(statement), "--ingest", "--json"])
    assert await args.run(make_settings(), args) == 1  # RKA0000003 and RKA0000008 need a person
    out = json.loads(capsys.readouterr().out)
    assert (out["matched"], out["ours_only"], out["clean"]) == (2, [{"txid": "RKA0000003"}], False)
    assert [(i["receipt"], i["status"], i["card"]) for i in out["ingested"]] == [("RKA0000002", "credited", CARD)]
    assert out["from"] == "2027-01-15T10:00:00+03:00"
