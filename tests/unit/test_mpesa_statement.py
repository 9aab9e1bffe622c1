"""Reading an M-Pesa organisation portal statement (CSV), without a database."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from billing_core.errors import InvalidImport
from billing_core.money import Money
from gateway.providers.mpesa.reconcile import parse_statement

HEADER = ("Receipt No.,Completion Time,Initiation Time,Details,Transaction Status,Paid In,Withdrawn,Balance,"
          "Balance Confirmed,Reason Type,Other Party Info,Linked Transaction ID,A/C No.")


def row(receipt: str, at: str, paid_in: str = "", withdrawn: str = "", *, status: str = "Completed",
        details: str = "Pay Bill Online", reason: str = "Pay Bill Online", party: str = "254712***678 - JOHN DOE",
        linked: str = "", account: str = "10000001") -> str:
    return ",".join([receipt, at, at, details, status, paid_in, withdrawn, "10500.00", "true", reason, party, linked,
                     account])


def utc(*parts: int) -> int:
    return int(datetime(*parts, tzinfo=timezone.utc).timestamp())


def test_payments_are_completed_rows_paid_in():
    text = "\n".join([
        HEADER,
        row("RKA0000001", "2026-11-20 14:03:11", "500.00"),
        row("RKA0000002", "2026-11-20 14:05:00", '"1,300.00"'),
        row("RKA0000003", "2026-11-20 14:06:00", "", "-5.00", details="Pay Bill Charge", reason="Pay Bill Charge",
            linked="RKA0000002", account=""),
        row("RKA0000004", "2026-11-20 14:07:00", "300.00", status="Failed"),
        row("RKA0000005", "2026-11-20 14:08:00", "0.00"),
    ])
    statement = parse_statement(text)
    assert [(p.line, p.receipt, p.amount, p.account, p.payer) for p in statement.payments] == [
        (2, "RKA0000001", Money(50000, "KES"), "10000001", "254712***678"),
        (3, "RKA0000002", Money(130000, "KES"), "10000001", "254712***678"),
    ]
    assert statement.payments[0].completed_at == utc(2026, 11, 20, 11, 3, 11)  # Nairobi time
    assert (statement.since, statement.until) == (utc(2026, 11, 20, 11, 3, 11), utc(2026, 11, 20, 11, 8))
    assert statement.reversed == frozenset()  # a charge linked to a payment is no reversal


def test_headers_in_any_case_and_spacing_below_title_lines():
    header = " receipt no , COMPLETION TIME,Initiation Time,details,TRANSACTION STATUS , Paid In ,Withdrawn,Balance," \
             "Balance Confirmed,Reason Type,other party info,Linked Transaction ID, a/c no. "
    text = "\ufeffOrganisation statement,,\nShort code: 600638,,\n" + header + "\n" + \
        row("RKA0000001", "2026-11-20 14:03:11", " 500 ")
    [payment] = parse_statement(text).payments
    assert (payment.line, payment.receipt, payment.amount) == (4, "RKA0000001", Money(50000, "KES"))


def test_reversed_payments_are_known():
    text = "\n".join([HEADER, row("RKA0000004", "2026-11-20 14:07:00", "200.00"),
                      row("RKA0000006", "2026-11-20 14:09:00", "", "-200.00", details="Reversal", reason="Reversal",
                          linked="RKA0000004", account="")])
    assert parse_statement(text).reversed == frozenset({"RKA0000004"})


@pytest.mark.parametrize("bad_row, message", [
    (row("RKA0000009", "2026-11-20 14:03:11", "abc"), "line 3: Paid In is not a plain amount"),
    (row("RKA0000009", "2026-11-20 14:03:11", "-500"), "line 3: Paid In is not a plain amount"),
    (row("rka-9", "2026-11-20 14:03:11", "500.00"), "line 3: Receipt No. 'rka-9' is not an M-Pesa receipt"),
    (row("RKA0000009", "20/11/2026 2pm", "500.00"), "line 3: Completion Time '20/11/2026 2pm'"),
    (row("RKA0000001", "2026-11-20 14:03:11", "600.00"), "line 3: receipt RKA0000001 differs from line 2"),
])
def test_a_bad_payment_row_is_reported_with_its_line(bad_row, message):
    text = "\n".join([HEADER, row("RKA0000001", "2026-11-20 14:03:11", "500.00"), bad_row])
    with pytest.raises(InvalidImport, match=message):
        parse_statement(text)


def test_a_quoted_cell_over_two_lines_keeps_line_numbers_physical():
    text = "\n".join([HEADER, row("RKA0000001", "2026-11-20 14:03:11", "500.00", details='"Pay Bill\nOnline"'),
                      row("RKA0000009", "2026-11-20 14:03:11", "x")])
    with pytest.raises(InvalidImport, match="line 4:"):
        parse_statement(text)


def test_a_repeated_identical_row_counts_once():
    same = row("RKA0000001", "2026-11-20 14:03:11", "500.00")
    assert len(parse_statement("\n".join([HEADER, same, same])).payments) == 1


@pytest.mark.parametrize("text, message", [
    ("Date,Amount\n2026-11-20,500", "no header row with a 'Receipt No.' column"),
    ("Receipt No.,Completion Time,Transaction Status,Paid In\n", "no column a/c no"),
])
def test_a_file_that_is_not_a_statement(text, message):
    with pytest.raises(InvalidImport, match=message):
        parse_statement(text)
