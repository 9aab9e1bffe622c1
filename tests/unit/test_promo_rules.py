"""Promotion rules and decoder states: pure arithmetic and transitions, no database."""
from __future__ import annotations

import pytest

from billing_core import promotions as rules
from billing_core import stock
from billing_core.errors import DecoderState, InvalidAmount, InvalidInput
from billing_core.money import Money
from billing_core.renewal import DAY_S
from tv_notify.texts import NOTICES, day

NOW = 1_800_000_000


def make(kind: str = "bonus", **terms) -> rules.Promotion:
    return rules.new_promotion("P", kind, starts_at=NOW, ends_at=NOW + DAY_S, budget=100, **terms)


def test_bonus_is_a_floored_percentage_of_the_tvu_bought() -> None:
    promo = make(percent="7.5", min_amount="KES 1000")
    assert rules.bonus_tvu(promo, 1000, Money(100000, "KES")) == 75
    assert rules.bonus_tvu(promo, 1333, Money(133300, "KES")) == 99  # 99.975 floored
    assert rules.bonus_tvu(promo, 999, Money(99900, "KES")) == 0  # below the minimum
    assert rules.bonus_tvu(promo, 5000, Money(250000, "UGX")) == 0  # a minimum only counts in its currency
    assert rules.bonus_tvu(make(percent="10"), 5000, Money(250000, "UGX")) == 500  # no minimum: any currency


def test_discount_applies_to_its_package_or_to_any() -> None:
    assert rules.discount_tvu(make("discount", percent="20", package="basic"), "BASIC", 150) == 30
    assert rules.discount_tvu(make("discount", percent="20", package="BASIC"), "SPORT", 150) == 0
    assert rules.discount_tvu(make("discount", percent="100"), "SPORT", 150) == 150
    assert rules.discount_tvu(make("discount", percent="33"), "SPORT", 1) == 0


def test_a_promotion_is_open_inside_its_window_with_budget_left() -> None:
    promo = make(percent="10")
    assert not promo.is_open(NOW - 1)
    assert promo.is_open(NOW) and promo.is_open(NOW + DAY_S - 1)
    assert not promo.is_open(NOW + DAY_S)
    assert not rules.Promotion(**{**_fields(promo), "spent": 100}).is_open(NOW)
    assert not rules.Promotion(**{**_fields(promo), "status": "ended"}).is_open(NOW)


def _fields(promo: rules.Promotion) -> dict:
    return {name: getattr(promo, name) for name in promo.__slots__}


def test_a_lapse_counts_from_the_expiry() -> None:
    assert not rules.is_lapsed(None, NOW, 0)  # never active: a new subscriber, not a reconnection
    assert rules.is_lapsed(NOW, NOW, 0)
    assert not rules.is_lapsed(NOW - 3 * DAY_S + 1, NOW, 3)
    assert rules.is_lapsed(NOW - 3 * DAY_S, NOW, 3)


@pytest.mark.parametrize("text,bp", [("10", 1000), ("7.5", 750), ("0.01", 1), ("12.25%", 1225)])
def test_percentages_become_basis_points(text: str, bp: int) -> None:
    assert rules.percent_bp(text) == bp
    assert rules.percent_text(bp) == text.rstrip("%") + "%"


@pytest.mark.parametrize("text", ["0", "-5", "1.005", "abc", "", "nan", "1e3"])
def test_bad_percentages_are_refused(text: str) -> None:
    with pytest.raises(InvalidInput):
        rules.percent_bp(text)


def test_new_promotion_checks_each_kind() -> None:
    with pytest.raises(InvalidInput):
        make("bonus")  # no percent
    with pytest.raises(InvalidInput):
        make("discount", percent="101")
    with pytest.raises(InvalidInput):
        make("free_addon")  # no package
    with pytest.raises(InvalidInput):
        make("reconnect")  # no days
    with pytest.raises(InvalidInput):
        make("reconnect", days=3, percent="10")  # a percent means nothing to it
    with pytest.raises(InvalidInput):
        rules.new_promotion("P", "bonus", starts_at=NOW, ends_at=NOW, budget=1, percent="1")
    with pytest.raises(InvalidInput):
        rules.new_promotion("P", "bonus", starts_at=NOW, ends_at=NOW + 1, budget=0, percent="1")
    with pytest.raises(InvalidInput):
        rules.new_promotion("bad name", "bonus", starts_at=NOW, ends_at=NOW + 1, budget=1, percent="1")
    with pytest.raises(InvalidAmount):
        make(percent="10", min_amount="KES 10.001")
    assert make("free_addon", package="sport").days == rules.ADDON_DAYS
    assert make("reconnect", days=5).lapsed_days == 0


def test_decoder_moves_follow_the_state_machine() -> None:
    site, dealer, sub = stock.Target("site", "A"), stock.Target("dealer", "1"), stock.Target("subscriber", "1" * 8)
    assert stock.state_after_move("in_stock", site) == "at_site"
    assert stock.state_after_move("at_site", dealer) == "at_dealer"
    assert stock.state_after_move("at_dealer", sub) == "sold"
    assert stock.state_after_move("faulty", site) == "faulty"  # back for repair, still faulty
    for state, target in (("installed", site), ("faulty", dealer), ("swapped", sub)):
        with pytest.raises(DecoderState):
            stock.state_after_move(state, target)
    with pytest.raises(DecoderState):
        stock.check_install("faulty")
    with pytest.raises(DecoderState):
        stock.check_swap_out("in_stock")
    assert stock.parse_target("dealer:12") == dealer.__class__("dealer", "12")
    with pytest.raises(InvalidInput):
        stock.parse_target("shop:1")


WORST = {"promo": "P" * 32, "tvu": 999_999_999, "card": "9" * 20, "old": "9" * 20, "wallet": -999_999_999,
         "package": "W" * 24, "days": 366, "date": day(4_102_444_800)}


@pytest.mark.parametrize("code", ["promo_bonus", "promo_addon", "promo_reconnect", "card_swapped"])
def test_promotion_and_swap_notices_fit_one_sms_in_every_language(code: str) -> None:
    for lang in ("en", "fr", "sw"):
        text = NOTICES[lang][code].format(**WORST)
        assert text.isascii() and len(text) <= 160, (lang, code, len(text))
