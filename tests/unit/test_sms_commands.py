"""The SMS command parser (pure) and the reply catalogue: examples, properties, and every reply in one SMS."""
from __future__ import annotations

import itertools
import string

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from billing_core.pins import new_pin
from gateway.sms import replies
from gateway.sms.commands import (KEYWORDS, LANGUAGE_WORDS, PARSE_ERRORS, VERBS, Command, Grammar, ParseError, keyword,
                                  parse, typo_distance)
from tv_notify.texts import NOTICES, REFUSALS, day

GRAMMAR = Grammar()
PIN = "12345678901234"


@pytest.mark.parametrize("text, expected", [
    ("BAL", Command("bal", "en")),
    ("bal 40000001", Command("bal", "en", card="40000001")),
    ("Balance: 4000-0001", Command("bal", "en", card="40000001")),
    ("BAL CARD 4000 0001.", Command("bal", "en", card="40000001")),
    ("solde", Command("bal", "fr")),
    ("  Salio  40000001 ", Command("bal", "sw", card="40000001")),
    ("BAL?", Command("bal", "en")),
    ("TOPUP 12345678901234", Command("topup", "en", pin=PIN)),
    ("TOPUP: 1234-5678-9012-34", Command("topup", "en", pin=PIN)),
    ("topup 1234 5678 9012 34 40000001", Command("topup", "en", pin=PIN, card="40000001")),
    ("top up 12345678901234 40000001", Command("topup", "en", pin=PIN, card="40000001")),
    ("Top-Up PIN 12345678901234", Command("topup", "en", pin=PIN)),
    ("TOPUP12345678901234", Command("topup", "en", pin=PIN)),
    ("recharge 1234 5678 9012 34", Command("topup", "fr", pin=PIN)),
    ("RECHARGER 12345678901234 carte 40000001", Command("topup", "fr", pin=PIN, card="40000001")),
    ("jaza 12345678901234", Command("topup", "sw", pin=PIN)),
    ("Ongeza 12345678901234 kadi 40000001", Command("topup", "sw", pin=PIN, card="40000001")),
    ("RENEW", Command("renew", "en")),
    ("renew basic", Command("renew", "en", package="BASIC")),
    ("RENEW HD-PLUS 40000001", Command("renew", "en", package="HD-PLUS", card="40000001")),
    ("renouveler basic 40000001", Command("renew", "fr", package="BASIC", card="40000001")),
    ("lipia BASIC", Command("renew", "sw", package="BASIC")),
    ("huisha", Command("renew", "sw")),
    ("REFRESH", Command("refresh", "en")),
    ("actualiser 40000001", Command("refresh", "fr", card="40000001")),
    ("SASISHA", Command("refresh", "sw")),
    ("LANG fr", Command("lang", "en", choice="fr")),
    ("langue: anglais", Command("lang", "fr", choice="en")),
    ("Lugha Kiswahili", Command("lang", "sw", choice="sw")),
    ("language SW", Command("lang", "en", choice="sw")),
    ("HELP", Command("help", "en")),
    ("?", Command("help", "en")),
    ("aide", Command("help", "fr")),
    ("msaada", Command("help", "sw")),
    ("RÉCHARGE 12345678901234", Command("topup", "fr", pin=PIN)),  # accents dropped
    # one typo in a keyword
    ("TOPUO 12345678901234", Command("topup", "en", pin=PIN)),
    ("TOPPU 12345678901234", Command("topup", "en", pin=PIN)),
    ("BALL", Command("bal", "en")),
    ("BALANCES", Command("bal", "en")),
    ("SOLD", Command("bal", "fr")),
    ("REFERSH", Command("refresh", "en")),
    ("RENOUVELLER", Command("renew", "fr")),
    ("LAN EN", Command("lang", "en", choice="en")),
    ("HLEP", Command("help", "en")),
    ("PPV FIGHT", Command("ppv", "en", event="FIGHT")),
    ("ppv ufc-300 4000-0001", Command("ppv", "en", event="UFC-300", card="40000001")),
    ("Event: Fight", Command("ppv", "en", event="FIGHT")),
    ("evenement code FIGHT carte 40000001", Command("ppv", "fr", event="FIGHT", card="40000001")),
    ("Tukio FIGHT", Command("ppv", "sw", event="FIGHT")),
])
def test_examples(text, expected) -> None:
    assert parse(text) == expected


@pytest.mark.parametrize("text, code, verb", [
    ("", "unknown_command", None),
    ("hello there", "unknown_command", None),
    ("BAK", "unknown_command", None),  # short words need an exact keyword
    ("1234", "unknown_command", None),
    ("TOPUP", "pin_missing", "topup"),
    ("TOPUP PIN", "pin_missing", "topup"),
    ("TOPUP 1234", "pin_malformed", "topup"),
    ("TOPUP 1234567890123O", "pin_malformed", "topup"),
    ("TOPUP 12345678901234 4000", "pin_malformed", "topup"),
    ("BAL 1234", "invalid_card", "bal"),
    ("REFRESH 4000O001", "invalid_card", "refresh"),
    ("RENEW BASIC 123", "invalid_card", "renew"),
    ("RENEW BASIC PREMIUM", "package_unclear", "renew"),
    ("LANG", "lang_missing", "lang"),
    ("LANG de", "lang_missing", "lang"),
    ("PPV", "event_unclear", "ppv"),
    ("PPV FIGHT FINAL", "event_unclear", "ppv"),
    ("PPV FIGHT 123", "invalid_card", "ppv"),
])
def test_errors(text, code, verb) -> None:
    error = parse(text)
    assert isinstance(error, ParseError) and (error.code, error.verb) == (code, verb)
    assert error.code in PARSE_ERRORS


def test_keywords_of_different_commands_are_three_edits_apart() -> None:
    """So a word one typo away from a keyword is at least two away from any other command's."""
    for a, b in itertools.combinations(KEYWORDS, 2):
        if KEYWORDS[a][0] != KEYWORDS[b][0]:
            assert typo_distance(a, b) >= 3, (a, b)
    assert set(v for v, _ in KEYWORDS.values()) == set(VERBS)
    assert {lang for _, lang in KEYWORDS.values()} == {"en", "fr", "sw"}
    for verb, lang in itertools.product(VERBS, ("en", "fr", "sw")):
        assert (verb, lang) in KEYWORDS.values() or verb == "help" and lang == "en"


def test_distance() -> None:
    assert typo_distance("TOPUP", "TOPUP") == 0
    assert typo_distance("TOPUO", "TOPUP") == typo_distance("TOPPU", "TOPUP") == typo_distance("BALL", "BAL") == 1
    assert typo_distance("BALANCE", "BAL") == 3 and typo_distance("ABC", "XYZ") == 3


# ---- properties -----------------------------------------------------------------------------

@given(st.text(max_size=600))
@example("TOPUP " + "1-" * 400)
@example("RENEW " + "A " * 300)
def test_parse_never_raises(text) -> None:
    result = parse(text)
    assert isinstance(result, (Command, ParseError))
    if isinstance(result, ParseError):
        assert result.code in PARSE_ERRORS


def _grouped(digits: str, cuts: list[int], seps: list[str]) -> str:
    """``digits`` cut at ``cuts`` and joined with ``seps``."""
    points = sorted({c % len(digits) for c in cuts} - {0})
    parts = [digits[i:j] for i, j in zip([0, *points], [*points, len(digits)])]
    return "".join(p + (seps[k % len(seps)] if k < len(parts) - 1 else "") for k, p in enumerate(parts))


keywords_of = {verb: [k for k, (v, _) in KEYWORDS.items() if v == verb] for verb in VERBS}
separators = st.sampled_from([" ", "  ", "-", " - ", "\t"])
after_keyword = st.sampled_from([" ", ": ", ":", ", ", ". ", "  ", " - "])


def cased(text: str, flips: list[bool]) -> str:
    return "".join(c.lower() if flips[i % len(flips)] else c for i, c in enumerate(text))


def valid_pin(length: int) -> st.SearchStrategy[str]:
    """PINs as cards print them: random digits, then the check digit."""
    return st.randoms(use_true_random=False).map(lambda r: new_pin(length, r.randrange))


digits = st.integers(8, 12).flatmap(lambda n: st.text("0123456789", min_size=n, max_size=n))
cards = st.one_of(st.none(), st.tuples(digits, st.lists(st.integers(1, 20), max_size=2)))
topup_words = st.sampled_from(keywords_of["topup"] + ["TOP UP", "TOP-UP"])


def _card_text(card, seps) -> str:
    return "" if card is None else " " + _grouped(card[0], card[1], seps)


@settings(max_examples=300)
@given(pin=valid_pin(GRAMMAR.pin_length), card=cards, word=topup_words, cuts=st.lists(st.integers(1, 20), max_size=4),
       seps=st.lists(separators, min_size=1, max_size=3), punct=after_keyword,
       flips=st.lists(st.booleans(), min_size=1, max_size=8), tail=st.sampled_from(["", ".", " ", "!"]))
def test_topup_reads_back_a_printed_pin_and_card_however_grouped(pin, card, word, cuts, seps, punct, flips,
                                                                    tail) -> None:
    text = cased(word, flips) + punct + _grouped(pin, cuts, seps) + _card_text(card, seps) + tail
    result = parse(text)
    assert isinstance(result, Command) and (result.verb, result.pin, result.card) == (
        "topup", pin, card and card[0]), text


@settings(max_examples=200)
@given(pin=st.integers(12, 16).flatmap(valid_pin), card=st.one_of(st.none(), digits),
       cuts=st.lists(st.integers(1, 20), max_size=4), seps=st.lists(separators, min_size=1, max_size=3))
def test_topup_reads_back_older_pin_lengths(pin, card, cuts, seps) -> None:
    """Grouped any way when alone; PIN and card each typed as one word when a card follows."""
    text = "TOPUP " + (_grouped(pin, cuts, seps) if card is None else f"{pin} {card}")
    result = parse(text)
    assert isinstance(result, Command) and (result.pin, result.card) == (pin, card), text


@given(pin=st.text("0123456789", min_size=12, max_size=16), cuts=st.lists(st.integers(1, 20), max_size=4),
       seps=st.lists(separators, min_size=1, max_size=3))
def test_topup_hands_any_pin_length_digits_on_for_the_check(pin, cuts, seps) -> None:
    """The check digit is the redemption's to judge (pin_malformed, not counted), not the parser's."""
    assert parse("TOPUP " + _grouped(pin, cuts, seps)) == Command("topup", "en", pin=pin)


@given(verb=st.sampled_from(["bal", "refresh"]), data=st.data(),
       card=st.integers(8, 12).flatmap(lambda n: st.text("0123456789", min_size=n, max_size=n)),
       cuts=st.lists(st.integers(1, 20), max_size=3), seps=st.lists(separators, min_size=1, max_size=2),
       punct=after_keyword)
def test_card_commands_read_back_the_card(verb, data, card, cuts, seps, punct) -> None:
    word = data.draw(st.sampled_from(keywords_of[verb]))
    result = parse(word.lower() + punct + _grouped(card, cuts, seps))
    assert result == Command(verb, KEYWORDS[word][1], card=card)


@given(text=st.text(alphabet=string.ascii_letters + string.digits + " :-.,?", max_size=60))
def test_case_does_not_matter(text) -> None:
    assert parse(text) == parse(text.upper()) == parse(text.lower())


def _typos(word: str) -> st.SearchStrategy[str]:
    i = st.integers(0, len(word) - 1)
    letter = st.sampled_from(string.ascii_uppercase)
    return st.one_of(
        st.tuples(i, letter).map(lambda a: word[:a[0]] + a[1] + word[a[0] + 1:]),  # replaced
        st.tuples(i, letter).map(lambda a: word[:a[0]] + a[1] + word[a[0]:]),  # inserted
        i.map(lambda a: word[:a] + word[a + 1:]),  # deleted
        st.integers(0, len(word) - 2).map(lambda a: word[:a] + word[a + 1] + word[a] + word[a + 2:]),  # swapped
    )


@given(data=st.data(), word=st.sampled_from([k for k in KEYWORDS if len(k) >= 4]))
def test_one_typo_in_a_long_keyword_keeps_the_command(data, word) -> None:
    typo = data.draw(_typos(word))
    assert keyword(typo)[0] == KEYWORDS[word][0], typo


# ---- replies --------------------------------------------------------------------------------

WORST = {"card": "9" * 20, "package": "W" * replies.PACKAGE_NAME_MAX, "date": day(4_102_444_800),
         "wallet": -999_999_999, "tvu": 999_999_999, "price": 999_999_999, "days": 3660,
         "cards": replies.card_list(["9" * 20] * 5)}


def fits_one_sms(text: str) -> bool:
    return text.isascii() and replies.gsm_length(text) <= replies.SMS_MAX


def test_every_reply_filled_with_the_longest_values_fits_one_sms() -> None:
    assert set(replies.REPLIES) == set(replies.USAGES) == {"en", "fr", "sw"}
    for lang, catalogue in replies.REPLIES.items():
        assert set(catalogue) == set(replies.REPLIES["en"]), lang
        assert set(replies.USAGES[lang]) == set(VERBS)
        longest_usage = max(replies.USAGES[lang].values(), key=len)
        for code, template in catalogue.items():
            text = template.format(**WORST, usage=longest_usage)
            if code.startswith("status_"):
                text += catalogue["wallet"].format(**WORST)
            assert fits_one_sms(text), (lang, code, len(text), text)
        for status in ("active", "expired", "new", "suspended"):
            text = replies.balance(lang, card=WORST["card"], status=status, package="P" * 200,
                                   expires_at=4_102_444_800, wallet_tvu=-999_999_999)
            assert fits_one_sms(text), text


def test_notices_and_refusals_sent_as_replies_fit_one_sms() -> None:
    for lang in ("en", "fr", "sw"):
        assert set(REFUSALS[lang]) == set(REFUSALS["en"])
        for text in REFUSALS[lang].values():
            assert fits_one_sms(text) and len(text) <= 120, text
        refreshed = NOTICES[lang]["refreshed"].format(**WORST)  # the REFRESH reply (package name cut)
        assert fits_one_sms(refreshed), refreshed


def test_usage_hints_and_help_name_keywords_of_their_language() -> None:
    for lang, usages in replies.USAGES.items():
        for verb, hint in usages.items():
            assert KEYWORDS[hint.split()[0]] == (verb, lang), (lang, hint)
        help_text = replies.reply("help", lang)
        for verb in ("bal", "topup", "renew", "refresh", "lang"):
            assert usages[verb].split()[0] in help_text
    assert {v for v in LANGUAGE_WORDS.values()} == {"en", "fr", "sw"}


def test_gsm_length_counts_extension_characters_twice_and_refuses_others() -> None:
    assert replies.gsm_length("BAL [CARD]") == 12
    with pytest.raises(ValueError):
        replies.gsm_length("caf\u00e9 `")


def test_package_names_are_cut_and_kept_ascii() -> None:
    assert replies.package_name("Basic") == "Basic" and replies.package_name(None) == "-"
    assert replies.package_name("X" * 40) == "X" * 22 + ".." and replies.package_name("Télé").isascii()


def test_a_real_pin_with_a_card_parses() -> None:
    pin = new_pin(14)
    assert parse(f"topup {pin[:4]} {pin[4:8]} {pin[8:12]} {pin[12:]} 40000001") == Command(
        "topup", "en", pin=pin, card="40000001")
