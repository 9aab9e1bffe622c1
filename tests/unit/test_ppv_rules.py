"""Pure rules of pay-per-view, add-ons and package changes: prices, codes, event payloads, notices."""
from __future__ import annotations

import pytest

from billing_core import ledger
from billing_core.addons import terms
from billing_core.errors import InvalidInput
from billing_core.ppv import event_code
from billing_core.renewal import DAY_S, iso
from billing_core.subscriptions import unused_tvu
from gateway.sms import replies
from tv_notify import events
from tv_notify.texts import NOTICES, REFUSALS, moment, short_title

NOW = 1_800_000_000


@pytest.mark.parametrize(("price", "days", "left_s", "aligned", "expected"), [
    (90, 30, 30 * DAY_S, True, 90),
    (90, 30, 20 * DAY_S - 3600, True, 60),  # 19 d 23 h: 20 days counted, ceil(90 * 20 / 30)
    (90, 30, 1, True, 3),  # a started day counts whole, the price rounds up
    (100, 30, 7 * DAY_S, True, 24),  # ceil(23.33)
    (90, 30, 60 * DAY_S, True, 180),  # a stacked base: pro rata beyond one period
    (90, 30, 7 * DAY_S, False, 90),  # independent: full price
])
def test_addon_terms(price, days, left_s, aligned, expected) -> None:
    tvu, expires_at = terms(price, days, NOW + left_s, NOW, aligned)
    assert tvu == expected
    assert expires_at == (NOW + left_s if aligned else NOW + days * DAY_S)


def test_an_aligned_addon_without_a_running_base_gets_its_own_period() -> None:
    assert terms(90, 30, None, NOW, True) == (90, NOW + 30 * DAY_S)
    assert terms(90, 30, NOW, NOW, True) == (90, NOW + 30 * DAY_S)


def test_upgrade_credit_is_floored_pro_rata() -> None:
    assert unused_tvu(300, 30, 1_533_600) == 177  # 300 * 17.75 / 30 = 177.5
    assert unused_tvu(450, 30, 29 * DAY_S + 86_399) == 449  # one second used: 449.99...
    assert unused_tvu(300, 30, -1) == 0


def test_entries_are_balanced_and_named() -> None:
    assert ledger.ppv_sale("1", 40, "r").postings[1].account == ledger.TVU_PPV
    assert ledger.addon_sale("1", 40, "r").postings[0].account == "wallet:1"
    credit = ledger.upgrade_credit("1", 7, "r")
    assert (credit.kind, credit.postings[0].account, credit.postings[1].account) == (
        "upgrade_credit", ledger.TVU_EARNED, "wallet:1")


@pytest.mark.parametrize("text", ["", "1234", "A" * 33, "WITH SPACE", "caf\u00e9"])
def test_bad_event_codes(text) -> None:
    with pytest.raises(InvalidInput):
        event_code(text)


def test_event_codes_are_upper_case() -> None:
    assert event_code(" ufc-300 ") == "UFC-300"


def test_a_grant_carries_a_start_only_when_given() -> None:
    plain = events.grant("1", ("900",), NOW, "en")
    assert set(plain.payload) == {"event", "card", "products", "until", "text", "lang"}
    later = events.grant("1", ("900",), NOW + 7200, "en", starts=NOW + 3600)
    assert later.payload["starts"] == iso(NOW + 3600) and later.payload["until"] == iso(NOW + 7200)


WORST = {"card": "9" * 20, "package": "W" * replies.PACKAGE_NAME_MAX, "date": "2100-01-01", "wallet": -999_999_999,
         "tvu": 999_999_999, "price": 999_999_999, "days": 3660, "credit": 999_999_999,
         "title": short_title("T" * 64), "start": moment(4_102_444_800), "end": moment(4_102_444_800)}
NEW_NOTICES = ("ppv_bought", "ppv_refunded", "addon_added", "addon_renewed", "addon_expired", "upgraded",
               "package_next")


@pytest.mark.parametrize("lang", ["en", "fr", "sw"])
def test_new_notices_fit_one_sms(lang) -> None:
    for code in NEW_NOTICES:
        text = NOTICES[lang][code].format(**WORST)
        assert text.isascii() and replies.gsm_length(text) <= 160, (lang, code, len(text))
    for code in ("unknown_event", "no_events", "event_closed", "already_bought", "base_not_active", "addon_active",
                 "wrong_package_kind", "same_package"):
        assert len(REFUSALS[lang][code]) <= 120


def test_titles_are_cut_for_notices() -> None:
    assert short_title("Title  fight") == "Title fight"
    assert short_title("X" * 30) == "X" * 22 + ".."
