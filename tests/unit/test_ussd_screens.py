"""Every screen of every menu in every language fits the aggregator's 182 characters.

The walk drives the pure engine through the whole graph with worst-case values (the
longest card number, package names at their shortened maximum, seven-digit wallets,
every refusal a command can come to) and checks each screen; it also checks that the
walk reached every node, so a new screen cannot escape it.
"""
from __future__ import annotations

from collections import deque
from dataclasses import replace

import pytest

from tv_notify.texts import REFUSALS
from ussd_menus import engine
from ussd_menus.engine import CardFact, Command, End, Env, EventFact, Outcome, PackageFact, Session
from ussd_menus.menus import SELF_SERVICE as GRAPH
from ussd_menus.texts import catalogue, languages

LONG = "X" * 19 + "."  # a package name as shortened for screens
CARDS = (CardFact("9" * 20, "P0", LONG, 9_999_999, "suspended", "2026-12-21", 9_999_999, True),
         CardFact("8" * 20, "P1", LONG, 9_999_999, "expired", "2026-12-21", -9_999_999, True),
         CardFact("7" * 20, "P2", LONG, 9_999_999, "new", "-", 0, False),
         CardFact("6" * 20, "P3", LONG, 9_999_999, "active", "2026-12-21", -9_999_999, True))
PACKAGES = tuple(PackageFact(f"P{i}", LONG, 9_999_999, 3660) for i in range(25))
EVENTS = tuple(EventFact(f"E{i}", LONG, 9_999_999, "12-21 20:00") for i in range(25))  # pay-per-view on sale
ENV = Env(pay_provider="airtel", service_code="*123*456*789#", operator="O" * 24, currency="KES",
          rate=10_000)
INPUTS = ("", "0", "00", "98", "1", "2", "3", "4", "5", "6", "7", "9", "12345678901234", "9" * 20, "abc")
CODES = ("ok",) + tuple(REFUSALS["en"])


def outcomes(command: Command) -> list[Outcome]:
    """Every way ``command`` can end, with the largest values it can bring."""
    values = {"tvu": "9999999"}
    ok = Outcome(values=values if command.name == "redeem" else {}, cards=CARDS, packages=PACKAGES, events=EVENTS)
    if command.name == "cards":
        return [ok, replace(ok, cards=CARDS[:1], values={"card": CARDS[0].card}), replace(ok, cards=())]
    if command.name == "lang":
        return [replace(ok, lang=lang) for lang in languages()]
    if command.name == "switch":
        return [ok, replace(ok, code="later")] + [Outcome(code) for code in CODES[1:]]
    return [ok] + [Outcome(code) for code in CODES[1:]]


def walk(lang: str) -> tuple[set[str], list[str]]:
    """(nodes reached, screens shown) from a new session of a phone with three cards."""
    reached: set[str] = set()
    screens: list[str] = []
    start = engine.begin(GRAPH, ENV, Session("sid", "+254712345678", lang))
    queue = deque([start])
    seen: set[tuple] = set()
    while queue:
        turn = queue.popleft()
        if turn.commands:
            reached.add(turn.session.node)
            for outcome in outcomes(turn.commands[0]):
                queue.append(engine.after(GRAPH, ENV, turn.session, outcome))
            continue
        reached.add(turn.session.node)
        screens.append(turn.reply.wire())
        key = (turn.session.node, turn.session.page, turn.session.lang, turn.session.data.get("card"),
               turn.session.data.get("package"), turn.session.data.get("outcome"), turn.session.ended, len(turn.session.cards))
        if key in seen or turn.reply.end:
            continue
        seen.add(key)
        for text in INPUTS:
            queue.append(engine.step(GRAPH, ENV, turn.session, text))
    return reached, screens


@pytest.mark.parametrize("lang", ["en", "fr", "sw"])
def test_every_screen_fits_and_is_plain_ascii(lang: str) -> None:
    reached, screens = walk(lang)
    nodes = {name for name, node in GRAPH.nodes.items() if not isinstance(node, engine.Route)}
    assert nodes <= reached, f"not reached: {nodes - reached}"
    assert len(screens) > 200
    too_long = sorted({s for s in screens if len(s) > engine.SCREEN_MAX}, key=len)
    assert not too_long, f"{len(too_long)} screens too long, e.g. {len(too_long[-1])}: {too_long[-1]!r}"
    for screen in screens:
        assert screen.isascii() and screen.replace("\n", " ").isprintable(), screen
        assert screen.startswith(("CON ", "END ")), screen


def test_every_language_has_every_text() -> None:
    assert languages() == ("en", "fr", "sw")
    for lang in languages():
        assert set(catalogue(lang)) == set(catalogue("en")), lang
        assert all(text.isascii() for text in catalogue(lang).values()), lang
    for lang, texts in REFUSALS.items():
        assert set(texts) == set(REFUSALS["en"]), lang


def test_long_lists_page_with_98_and_number_items_across_pages() -> None:
    session = Session("sid", "+254712345678", "en", cards=CARDS, data={"card": CARDS[0].card})
    turn = engine.after(GRAPH, ENV, replace(session, node="packages_do"), Outcome(packages=PACKAGES))
    first = turn.reply.text
    assert "98. More" in first and "1. " in first
    turn = engine.step(GRAPH, ENV, turn.session, "98")
    second = turn.reply.text
    shown = [line.split(".")[0] for line in second.splitlines() if line[:1].isdigit() and not line.startswith("98")]
    assert shown and int(shown[0]) > 1
    turn = engine.step(GRAPH, ENV, turn.session, shown[0])
    assert turn.session.data["package"] == PACKAGES[int(shown[0]) - 1].code


def test_a_secret_input_is_flagged_and_dropped_once_used() -> None:
    session = Session("sid", "+254712345678", "en", cards=CARDS[:1], data={"card": CARDS[0].card}, node="main")
    turn = engine.step(GRAPH, ENV, session, "2")
    turn = engine.step(GRAPH, ENV, turn.session, "1234 5678 9012 34")
    assert turn.secret_input and turn.commands[0].args["pin"] == "12345678901234"
    done = engine.after(GRAPH, ENV, turn.session, Outcome(values={"tvu": "5"}))
    assert "pin" not in done.session.data and "12345678901234" not in done.session.to_json()
    assert isinstance(GRAPH.nodes[done.session.node], End)


def test_session_round_trips_through_json() -> None:
    session = Session("sid", "+254712345678", "fr", "main", {"card": "1"}, ("a",), 2, CARDS, PACKAGES[:2], "1*2", 3,
                      "CON x", False, EVENTS[:2])
    assert Session.from_json(session.to_json()) == session
    stored_before_events = session.to_json().replace(',"events":' + __import__("json").dumps(
        [e.to_json() for e in EVENTS[:2]], separators=(",", ":")), "")
    assert Session.from_json(stored_before_events) == replace(session, events=())


@pytest.mark.parametrize(("price", "wallet", "rate", "exp", "whole", "shown"), [
    (250, 200, 100, 2, True, "KES 50.00"),
    (250, 300, 100, 2, True, "KES 0.00"),
    (3, 0, 33, 2, True, "KES 1.00"),
    (3, 0, 33, 2, False, "KES 0.99"),
    (10, -5, 1000, 0, True, "UGX 10000"),
])
def test_mobile_money_pays_what_the_wallet_lacks(price, wallet, rate, exp, whole, shown) -> None:
    env = Env(currency=shown.split()[0], rate=rate, exponent=exp, pay_whole_units=whole)
    assert engine.pay_amount(env, price, wallet) == shown
