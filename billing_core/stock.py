"""Decoders and smartcards as stock: where each one is, what happened to it, and swaps.

A decoder has a serial, the smartcard paired with it, a state and a place (a site, a
dealer, or the subscriber's card it went to). Every change is a conditional update on
its current state plus one row of ``decoder_movements`` (append-only), so a decoder's
history can be followed from stock to installation and swap::

    in_stock ──move──> at_site / at_dealer / sold ──install──> installed ──swap──> swapped
        └───────────────────────────── fault (from any state) ──────────> faulty

- ``move`` to ``site:CODE`` / ``dealer:ID`` / ``subscriber:CARD`` (sold); an installed
  decoder is not moved (swap it or mark it faulty first); a faulty or swapped one may go
  back to a site (for repair or scrap) and keeps its state.
- ``install --card CARD`` pairs the decoder with the subscriber's smartcard.
- ``swap OLD NEW --card CARD``: the subscriber keeps their smartcard; OLD (installed or
  faulty, on CARD) becomes ``swapped`` and NEW is installed and paired with CARD.
- A smartcard swap (``subscriber swap-card OLD NEW``) moves the subscription itself to a
  new card number: :func:`swap_card`.
"""
from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass

from billing_core.context import Billing
from billing_core.db import ledger_store, stock_store as store
from billing_core.errors import DecoderState, InvalidImport, InvalidInput

STATES = ("in_stock", "at_site", "at_dealer", "sold", "installed", "faulty", "swapped")
IN_CHANNEL = ("in_stock", "at_site", "at_dealer", "sold")  # can be moved on, sold, installed
RETURNED = ("faulty", "swapped")  # may go back to a site, keeping their state
SERIAL = re.compile(r"[A-Z0-9][A-Z0-9-]{3,31}")
BY_MAX = 64
IMPORT_ROWS_MAX = 100_000


@dataclass(frozen=True, slots=True)
class Target:
    """Where a decoder goes: ``site`` (a site code), ``dealer`` (an id) or ``subscriber`` (a card)."""

    kind: str
    value: str


def parse_target(text: str) -> Target:
    kind, sep, value = (text or "").strip().partition(":")
    if not sep or kind not in ("site", "dealer", "subscriber") or not value.strip():
        raise InvalidInput("--to is site:CODE, dealer:ID or subscriber:CARD")
    return Target(kind, value.strip())


def state_after_move(state: str, target: Target) -> str:
    """The state a decoder in ``state`` is in once moved to ``target``; refuses what cannot move."""
    if state in IN_CHANNEL:
        return {"site": "at_site", "dealer": "at_dealer", "subscriber": "sold"}[target.kind]
    if state in RETURNED and target.kind == "site":
        return state
    if state == "installed":
        raise DecoderState("an installed decoder is swapped or marked faulty, not moved")
    raise DecoderState(f"a {state} decoder can only go back to a site")


def check_install(state: str) -> None:
    if state not in IN_CHANNEL:
        raise DecoderState(f"a {state} decoder cannot be installed")


def check_fault(state: str) -> None:
    if state == "faulty":
        raise DecoderState("the decoder is marked faulty already")


def check_swap_out(state: str) -> None:
    if state not in ("installed", "faulty"):
        raise DecoderState(f"only an installed or faulty decoder is swapped out, this one is {state}")


def serial(text: str) -> str:
    value = (text or "").strip().upper()
    if not SERIAL.fullmatch(value):
        raise InvalidInput("a decoder serial is 4-32 letters, digits or '-'")
    return value


def _by(text: str | None) -> str:
    return (text or "").strip()[:BY_MAX]


# ---- use cases -----------------------------------------------------------------------------

async def add_decoder(billing: Billing, serial_text: str, *, smartcard: str | None = None, site: str | None = None,
                      by: str = "") -> dict:
    """A decoder into stock (``in_stock``, or ``at_site`` with a site), paired with ``smartcard``."""
    row = store.NewDecoder(serial(serial_text), billing.card(smartcard) if smartcard else None, (site or "").strip())
    return await billing.db.write(store.add_decoders, [row], _by(by), billing.now(), one=True)


async def import_decoders(billing: Billing, text: str, *, by: str = "") -> int:
    """Decoders from CSV ``serial,smartcard,site`` (header first; smartcard and site may be empty):
    all rows or none."""
    rows = []
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames or "serial" not in reader.fieldnames:
        raise InvalidImport("the first line names the columns: serial,smartcard,site")
    for number, line in enumerate(reader, start=2):
        if number > IMPORT_ROWS_MAX + 1:
            raise InvalidImport(f"at most {IMPORT_ROWS_MAX} decoders per file")
        try:
            card = (line.get("smartcard") or "").strip()
            rows.append(store.NewDecoder(serial(line.get("serial") or ""), billing.card(card) if card else None,
                                         (line.get("site") or "").strip()))
        except InvalidInput as exc:
            raise InvalidImport(f"line {number}: {exc.detail}") from None
    if not rows:
        raise InvalidImport("no decoders in the file")
    if len({r.serial for r in rows}) != len(rows):
        raise InvalidImport("a serial appears twice in the file")
    await billing.db.write(store.add_decoders, rows, _by(by), billing.now())
    return len(rows)


async def move_decoder(billing: Billing, serial_text: str, to: str, *, by: str) -> dict:
    target = parse_target(to)
    if target.kind == "subscriber":
        target = Target("subscriber", billing.card(target.value))
    return await billing.db.write(store.move, serial(serial_text), target, _by(by), billing.now())


async def install_decoder(billing: Billing, serial_text: str, card: str, *, by: str = "") -> dict:
    return await billing.db.write(store.install, serial(serial_text), billing.card(card), _by(by), billing.now())


async def fault_decoder(billing: Billing, serial_text: str, *, note: str = "", by: str = "") -> dict:
    return await billing.db.write(store.fault, serial(serial_text), (note or "")[:255], _by(by), billing.now())


async def swap_decoder(billing: Billing, old: str, new: str, card: str, *, by: str = "") -> dict:
    """The subscriber of ``card`` keeps their smartcard; decoder ``new`` replaces ``old``."""
    old, new = serial(old), serial(new)
    if old == new:
        raise InvalidInput("a decoder is swapped for another one")
    return await billing.db.write(store.swap, old, new, billing.card(card), _by(by), billing.now())


async def show_decoder(billing: Billing, serial_text: str) -> dict:
    """A decoder and its whole history, oldest first."""
    return await billing.db.read(store.show, serial(serial_text))


async def report(billing: Billing) -> list[dict]:
    """Decoders by state and site."""
    return await billing.db.read(store.counts)


async def swap_card(billing: Billing, old: str, new: str, *, reason: str = "", by: str = "") -> dict:
    """Move a subscription to a new smartcard number in one transaction: the subscriber row and
    its wallet account are renamed (balance, history and package stay), the old card's
    entitlement is revoked and the new card entitled to the same expiry."""
    old, new = billing.card(old), billing.card(new)
    if old == new:
        raise InvalidInput("the new card number is the old one")
    try:
        return await billing.db.write(store.swap_card, old, new, (reason or "")[:255], _by(by), billing.now())
    finally:
        ledger_store._cache.clear()  # the wallet account changed its code: look it up afresh


__all__ = ["STATES", "Target", "parse_target", "state_after_move", "serial", "add_decoder", "import_decoders",
           "move_decoder", "install_decoder", "fault_decoder", "swap_decoder", "show_decoder", "report",
           "swap_card"]
