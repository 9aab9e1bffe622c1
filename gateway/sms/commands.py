"""SMS commands as subscribers type them: one text in, one :class:`Command` or :class:`ParseError` out.

Pure: no I/O, no clock, no settings beyond the :class:`Grammar` handed in.

The commands (``[...]`` optional), each with its keywords in English, French and Swahili::

    BAL [CARD]            BAL, BALANCE      SOLDE               SALIO
    TOPUP PIN [CARD]      TOPUP, TOP UP     RECHARGE, RECHARGER JAZA, ONGEZA
    RENEW [CODE] [CARD]   RENEW             RENOUVELER          LIPIA, HUISHA
    REFRESH [CARD]        REFRESH           ACTUALISER          SASISHA
    LANG en|fr|sw         LANG, LANGUAGE    LANGUE              LUGHA
    PPV CODE [CARD]       PPV, EVENT        EVENEMENT           TUKIO
    ADDON CODE [CARD]     ADDON             OPTION              ZIADA
    HELP                  HELP, ?           AIDE                MSAADA, SAIDIA
                          (and any text that is no command)

Tolerated: any case; accents; punctuation and spacing (``topup: 1234-5678-9012-34``,
``TOPUP12345678901234``); PIN and card digits grouped with spaces or dashes; filler words
(``TOPUP PIN 1234...``, ``BAL CARD 40000001``); a keyword with one typo (one letter
wrong, missing, extra, or two neighbours swapped) when the word or the keyword has at
least 4 letters (``TOPUO``, ``BALL``, ``SOLD``). Keywords of different commands are at
least 3 edits apart, so one typo never turns a command into another.

``RENEW`` without a code renews the card's current package. A package code has a
letter in it; an all-digit word is a card number. ``PPV`` names one pay-per-view event
by its code (which has a letter in it too); ``ADDON`` names an add-on package by its code.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from billing_core.pins import PIN_LENGTH_MAX as PIN_MAX
from billing_core.pins import PIN_LENGTH_MIN as PIN_MIN
from billing_core.pins import damm_ok

BAL, TOPUP, RENEW, REFRESH, LANG, HELP, PPV = "bal", "topup", "renew", "refresh", "lang", "help", "ppv"
ADDON = "addon"
VERBS = (BAL, TOPUP, RENEW, REFRESH, LANG, HELP, PPV, ADDON)

# keyword -> (verb, language the keyword is in)
KEYWORDS: dict[str, tuple[str, str]] = {
    "BAL": (BAL, "en"), "BALANCE": (BAL, "en"), "SOLDE": (BAL, "fr"), "SALIO": (BAL, "sw"),
    "TOPUP": (TOPUP, "en"), "RECHARGE": (TOPUP, "fr"), "RECHARGER": (TOPUP, "fr"),
    "JAZA": (TOPUP, "sw"), "ONGEZA": (TOPUP, "sw"),
    "RENEW": (RENEW, "en"), "RENOUVELER": (RENEW, "fr"), "LIPIA": (RENEW, "sw"), "HUISHA": (RENEW, "sw"),
    "REFRESH": (REFRESH, "en"), "ACTUALISER": (REFRESH, "fr"), "SASISHA": (REFRESH, "sw"),
    "LANG": (LANG, "en"), "LANGUAGE": (LANG, "en"), "LANGUE": (LANG, "fr"), "LUGHA": (LANG, "sw"),
    "HELP": (HELP, "en"), "AIDE": (HELP, "fr"), "MSAADA": (HELP, "sw"), "SAIDIA": (HELP, "sw"),
    "PPV": (PPV, "en"), "EVENT": (PPV, "en"), "EVENEMENT": (PPV, "fr"), "TUKIO": (PPV, "sw"),
    "ADDON": (ADDON, "en"), "OPTION": (ADDON, "fr"), "ZIADA": (ADDON, "sw"),
}
FUZZY_MIN_LETTERS = 4  # a typo is forgiven when the word or the keyword is at least this long

# What LANG accepts: codes and the languages' names in the three languages.
LANGUAGE_WORDS: dict[str, str] = {
    "EN": "en", "ENG": "en", "ENGLISH": "en", "ANGLAIS": "en", "KIINGEREZA": "en",
    "FR": "fr", "FRE": "fr", "FRENCH": "fr", "FRANCAIS": "fr", "KIFARANSA": "fr",
    "SW": "sw", "SWA": "sw", "SWAHILI": "sw", "KISWAHILI": "sw",
}
# Words a subscriber may put before a number; ignored.
FILLERS = frozenset({"PIN", "CODE", "CARD", "CARTE", "KADI", "NO", "NUM", "NUMBER", "NUMERO", "NAMBA"})


# stable codes of ParseError
UNKNOWN_COMMAND = "unknown_command"
PIN_MISSING = "pin_missing"
PIN_MALFORMED = "pin_malformed"
INVALID_CARD = "invalid_card"
PACKAGE_UNCLEAR = "package_unclear"
LANG_MISSING = "lang_missing"
EVENT_UNCLEAR = "event_unclear"
PARSE_ERRORS = (UNKNOWN_COMMAND, PIN_MISSING, PIN_MALFORMED, INVALID_CARD, PACKAGE_UNCLEAR, LANG_MISSING,
                EVENT_UNCLEAR)

TEXT_MAX = 480  # longer texts are cut: nobody types a command this long, and parsing stays cheap


@dataclass(frozen=True, slots=True)
class Grammar:
    """Lengths the parser needs to tell a PIN from a card number."""

    card_min: int = 8
    card_max: int = 12
    pin_length: int = 14  # what new cards print: preferred when digits could be split several ways


@dataclass(frozen=True, slots=True)
class Command:
    """A well-formed command. ``lang``: the language of the keyword typed."""

    verb: str
    lang: str
    card: str | None = None
    pin: str | None = None  # TOPUP: the digits of the PIN (its check digit is checked by the redemption)
    package: str | None = None  # RENEW: the package code, upper case (None: the current package)
    choice: str | None = None  # LANG: the language chosen
    event: str | None = None  # PPV: the event code, upper case


@dataclass(frozen=True, slots=True)
class ParseError:
    """Not a well-formed command: ``code`` is one of :data:`PARSE_ERRORS`; ``verb`` and
    ``lang`` are known when the keyword was recognised."""

    code: str
    verb: str | None = None
    lang: str | None = None


def parse(text: str, grammar: Grammar = Grammar()) -> Command | ParseError:
    """The command in ``text``; never raises."""
    words = _words(text)
    if not words:
        return Command(HELP, "en") if "?" in (text or "")[:TEXT_MAX] else ParseError(UNKNOWN_COMMAND)
    if words[0] == "TOP" and len(words) > 1 and words[1] == "UP":
        words = ["TOPUP", *words[2:]]
    found = keyword(words[0])
    if found is None:
        return ParseError(UNKNOWN_COMMAND)
    verb, lang = found
    args = [w for w in words[1:] if w not in FILLERS]
    return _ARGUMENTS[verb](verb, lang, args, grammar)


def keyword(word: str) -> tuple[str, str] | None:
    """(verb, language) of ``word`` as a keyword, forgiving one typo; None when it is none
    (or when it is one typo away from keywords of two commands)."""
    word = word.replace("-", "").replace("_", "")
    if word in KEYWORDS:
        return KEYWORDS[word]
    if not word.isalpha():
        return None
    near = {KEYWORDS[k] for k in KEYWORDS
            if max(len(k), len(word)) >= FUZZY_MIN_LETTERS and typo_distance(word, k) <= 1}
    verbs = {verb for verb, _ in near}
    if len(verbs) != 1:
        return None
    return sorted(near)[0]


def typo_distance(a: str, b: str) -> int:
    """Edits from ``a`` to ``b``: letters replaced, inserted, deleted, or neighbours swapped
    (optimal string alignment)."""
    if abs(len(a) - len(b)) > 2:
        return 3  # enough to know it is not a typo
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        prev2, prev = prev, cur
    return prev[-1]


# ---- words ----------------------------------------------------------------------------------

_SEPARATORS = re.compile(r"[^A-Z0-9_-]+")
_GLUED = re.compile(r"([A-Z]{2,})([0-9][0-9-]*)")  # TOPUP1234... -> TOPUP 1234...


def _words(text: str) -> list[str]:
    """Upper-case ASCII words of ``text``: accents dropped, punctuation as spaces."""
    plain = unicodedata.normalize("NFKD", (text or "")[:TEXT_MAX]).encode("ascii", "ignore").decode().upper()
    words = [w for w in (w.strip("-_") for w in _SEPARATORS.split(plain)) if w]
    if words and (glued := _GLUED.fullmatch(words[0])):
        words[:1] = [glued.group(1), glued.group(2)]
    return words


def _is_number(word: str) -> bool:
    return bool(word) and word.replace("-", "").isdigit()


def _groups(args: list[str]) -> list[list[str]]:
    """The digit groups of each numeric word (``1234-5678`` -> ``["1234", "5678"]``)."""
    return [[g for g in w.split("-") if g] for w in args if _is_number(w)]


def _card(groups: list[list[str]], grammar: Grammar) -> tuple[str | None, bool]:
    """(card, ok) from digit groups: the digits together must be a card number."""
    digits = "".join(g for word in groups for g in word)
    if not digits:
        return None, True
    return digits, grammar.card_min <= len(digits) <= grammar.card_max


# ---- arguments per command ------------------------------------------------------------------

def _no_args(verb: str, lang: str, args: list[str], grammar: Grammar) -> Command | ParseError:
    return Command(verb, lang)


def _card_only(verb: str, lang: str, args: list[str], grammar: Grammar) -> Command | ParseError:
    if any(not _is_number(w) and not w.isalpha() for w in args):
        return ParseError(INVALID_CARD, verb, lang)
    card, ok = _card(_groups(args), grammar)
    return Command(verb, lang, card=card) if ok else ParseError(INVALID_CARD, verb, lang)


def _renew(verb: str, lang: str, args: list[str], grammar: Grammar) -> Command | ParseError:
    codes = [w for w in args if not _is_number(w)]
    if len(codes) > 1:
        return ParseError(PACKAGE_UNCLEAR, verb, lang)
    card, ok = _card(_groups(args), grammar)
    if not ok:
        return ParseError(INVALID_CARD, verb, lang)
    return Command(verb, lang, card=card, package=codes[0] if codes else None)


def _one_code(field: str, unclear: str):
    """A parser for ``VERB CODE [CARD]``: exactly one word with a letter (stored as ``field``)."""
    def parse(verb: str, lang: str, args: list[str], grammar: Grammar) -> Command | ParseError:
        codes = [w for w in args if not _is_number(w)]
        if len(codes) != 1:
            return ParseError(unclear, verb, lang)
        card, ok = _card(_groups(args), grammar)
        if not ok:
            return ParseError(INVALID_CARD, verb, lang)
        return Command(verb, lang, card=card, **{field: codes[0]})

    return parse


_ppv = _one_code("event", EVENT_UNCLEAR)
_addon = _one_code("package", PACKAGE_UNCLEAR)


def _language(verb: str, lang: str, args: list[str], grammar: Grammar) -> Command | ParseError:
    choice = LANGUAGE_WORDS.get(args[0]) if args else None
    return Command(verb, lang, choice=choice) if choice else ParseError(LANG_MISSING, verb, lang)


def _topup(verb: str, lang: str, args: list[str], grammar: Grammar) -> Command | ParseError:
    if any(not _is_number(w) and not w.isalpha() for w in args):
        return ParseError(PIN_MALFORMED, verb, lang)
    groups = _groups(args)
    if not groups:
        return ParseError(PIN_MISSING, verb, lang)
    split = _pin_and_card(groups, grammar)
    if split is None:
        return ParseError(PIN_MALFORMED, verb, lang)
    return Command(verb, lang, pin=split[0], card=split[1])


def _pin_and_card(words: list[list[str]], grammar: Grammar) -> tuple[str, str | None] | None:
    """Split digit groups into a PIN and an optional card at a group boundary.

    All the digits make a PIN when their count is a PIN's; otherwise the split
    preferred is one whose PIN passes its check digit, then one with a PIN of
    ``grammar.pin_length`` digits (what cards print), then one that leaves the last
    word whole as the card, then the longest PIN. So a PIN of the printed length reads
    back however both are grouped, and an older card's PIN when PIN and card are each
    typed as one word.
    """
    flat = [g for word in words for g in word]
    digits = "".join(flat)
    if PIN_MIN <= len(digits) <= PIN_MAX:
        return digits, None
    last_word = sum(len(g) for g in words[-1])
    splits = []
    at = 0
    for group in flat[:-1]:
        at += len(group)
        pin, card = digits[:at], digits[at:]
        if PIN_MIN <= len(pin) <= PIN_MAX and grammar.card_min <= len(card) <= grammar.card_max:
            splits.append(((damm_ok(pin), len(pin) == grammar.pin_length, len(card) == last_word, len(pin)), pin,
                           card))
    if not splits:
        return None
    _, pin, card = max(splits)
    return pin, card


_ARGUMENTS = {BAL: _card_only, TOPUP: _topup, RENEW: _renew, REFRESH: _card_only, LANG: _language, HELP: _no_args,
              PPV: _ppv, ADDON: _addon}


__all__ = ["Command", "ParseError", "Grammar", "parse", "keyword", "typo_distance", "KEYWORDS", "VERBS",
           "LANGUAGE_WORDS", "PARSE_ERRORS", "BAL", "TOPUP", "RENEW", "REFRESH", "LANG", "HELP", "PPV", "ADDON"]
