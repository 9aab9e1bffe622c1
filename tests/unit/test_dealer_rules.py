"""Pure parts of the dealer channel: signatures, secrets, commission, ledger entries, alerts."""
from __future__ import annotations

import hashlib
import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing_core import dealers, ledger
from billing_core.db.dealer_store import mask_name
from billing_core.errors import InvalidAmount, InvalidInput
from billing_core.money import Money, Rates
from gateway.dealer_api import signing
from gateway.dealer_api.alerts import AlertRules


def test_signature_is_the_contracts_formula():
    body = b'{"card": "12345678", "tvu": 100}'
    text = "POST\n/api/v1/topups\n1800000000\n" + hashlib.sha256(body).hexdigest()
    expected = hmac.new(b"s3cret", text.encode(), hashlib.sha256).hexdigest()
    assert signing.sign("s3cret", "POST", "/api/v1/topups", 1800000000, body) == expected
    assert signing.valid("s3cret", expected.upper(), "POST", "/api/v1/topups", "1800000000", body)


@pytest.mark.parametrize("change", [
    dict(secret="other"), dict(method="GET"), dict(path="/api/v1/topups?x=1"), dict(ts="1800000001"),
    dict(body=b'{"card": "12345678", "tvu": 900}')])
def test_any_change_breaks_the_signature(change):
    base = dict(secret="s3cret", method="POST", path="/api/v1/topups", ts="1800000000",
                body=b'{"card": "12345678", "tvu": 100}')
    good = signing.sign(base["secret"], base["method"], base["path"], base["ts"], base["body"])
    tried = {**base, **change}
    assert not signing.valid(tried["secret"], good, tried["method"], tried["path"], tried["ts"], tried["body"])


@given(st.binary(min_size=1, max_size=200), st.integers(0, 199), st.integers(1, 255))
def test_one_changed_byte_breaks_the_signature(body, where, flip):
    good = signing.sign("k", "POST", "/api/v1/topups", 1, body)
    i = where % len(body)
    changed = body[:i] + bytes([body[i] ^ flip]) + body[i + 1:]
    assert not signing.valid("k", good, "POST", "/api/v1/topups", "1", changed)


def test_secrets_are_derived_per_key_and_master():
    a = dealers.derive_secret("m" * 32, "dk_" + "1" * 24)
    assert len(a) == 64 and a != dealers.derive_secret("m" * 32, "dk_" + "2" * 24)
    assert a != dealers.derive_secret("n" * 32, "dk_" + "1" * 24)
    assert dealers.KEY_ID.fullmatch(dealers.new_key_id())


@pytest.mark.parametrize("pct, bp", [("0", 0), ("5", 500), ("2.5", 250), ("12.75", 1275), ("100", 10000)])
def test_commission_percent_to_basis_points(pct, bp):
    assert dealers.commission_bp(pct) == bp


@pytest.mark.parametrize("pct", ["-1", "101", "5.555", "1e2", "five", "100.5"])
def test_bad_commissions_are_refused(pct):
    with pytest.raises(InvalidInput):
        dealers.commission_bp(pct)


@given(face=st.integers(1, 10**9), bp=st.integers(0, 10_000), rate=st.integers(1, 1000))
def test_a_sale_balances_in_every_unit(face, bp, rate):
    money = Money(face, "KES")
    conversion = Rates({"KES": rate}).to_tvu(money)
    if conversion.tvu == 0:
        return
    commission = Money(face * bp // 10_000, "KES")
    entry = ledger.dealer_sale(7, "12345678", money, commission, conversion, "topup:1")
    sums = ledger.sums_by_unit(entry.postings)
    assert sums == {"KES": 0, "TVU": 0}
    paid = sum(p.amount for p in entry.postings if p.account == "float:7")
    assert paid == face - commission.minor


def test_names_are_masked_for_dealers():
    assert mask_name("John Doe") == "J*** D**"
    assert mask_name("") == "" and mask_name("  A  ") == "A"


def test_sales_day_is_the_operators():
    # 2027-01-14T22:30Z is already the 15th in Nairobi (UTC+3)
    assert dealers.sales_day(1_799_965_800, "Africa/Nairobi") == "2027-01-15"
    assert dealers.sales_day(1_799_965_800, "UTC") == "2027-01-14"


@pytest.mark.parametrize("start, end, hour, night", [(0, 5, 2, True), (0, 5, 5, False), (22, 5, 23, True),
                                                     (22, 5, 12, False), (22, 5, 4, True)])
def test_night_hours(start, end, hour, night):
    rules = AlertRules(600, 20, 30, start, end, "UTC")
    assert rules.at_night(1_800_000_000 - 1_800_000_000 % 86_400 + hour * 3600) is night


def test_orders_are_parsed_strictly():
    from billing_core.context import Billing

    billing = Billing(db=None, rates=Rates({"KES": 100}))
    ok = dealers.parse_order(billing, {"card": "12345678", "amount": "KES 500"}, key_id="k", idempotency_key="i",
                             body_hash="h")
    assert (ok.kind, ok.amount) == ("amount", Money(50000, "KES"))
    bad = [{"card": "12345678"}, {"card": "12345678", "tvu": 0}, {"card": "12345678", "tvu": True},
           {"card": 12345678, "tvu": 1}, {"card": "12345678", "tvu": 1, "extra": 1}, [], "x",
           {"card": "12345678", "package": ""}]
    for doc in bad:
        with pytest.raises(InvalidInput):
            dealers.parse_order(billing, doc, key_id="k", idempotency_key="i", body_hash="h")
    with pytest.raises(InvalidAmount):
        dealers.parse_order(billing, {"card": "12345678", "amount": "KES 0"}, key_id="k", idempotency_key="i",
                            body_hash="h")
    with pytest.raises(InvalidInput):
        dealers.parse_order(billing, {"card": "12345678", "tvu": 1}, key_id="k", idempotency_key="", body_hash="h")
