"""Scratch cards through the operator's CLI, as real processes: generate, activate, redeem, report.

On SQLite only: each process costs a second of start-up, and the PostgreSQL side of
the same use cases is covered by tests/integration/test_cards.py.
"""
from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

from billing_core import cards, reports, subscriptions
from billing_core.context import Billing
from billing_core.db.database import open_database
from billing_core.db.migrate import upgrade
from billing_core.money import Rates
from billing_core.pins import parse_pin
from config.settings import load_settings
from gateway.state import MemoryState, lockouts_from_settings

PIN_KEY = "e2e-pin-key-0123456789abcdef"


def run(db_url: str, *args: str, pin_key: str = PIN_KEY) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TVTOPUP_")}
    env.update(TVTOPUP_DATABASE_URL=db_url, TVTOPUP_SECURITY__PIN_KEY=pin_key)
    return subprocess.run([sys.executable, "-m", "gateway", *args], capture_output=True, text=True, env=env,
                          timeout=120)


def ok_json(db_url: str, *args: str):
    done = run(db_url, *args, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


async def test_a_batch_from_generation_to_a_redeemed_card(tmp_path, clock) -> None:
    db_url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    await upgrade(db_url)
    settings = load_settings(environ={}).replace(**{"database.url": db_url, "security.pin_key": PIN_KEY})
    db = open_database(db_url)
    billing = Billing.from_settings(settings, db, clock)
    await subscriptions.add_package(billing, "BASIC", "Basic", 30, 150)
    await subscriptions.add_subscriber(billing, "12345678", "0712345678", package="BASIC")

    out = tmp_path / "nov.csv"
    made = ok_json(db_url, "cards", "generate", "--batch", "NOV26", "--count", "30", "--tvu", "150",
                   "--expires", "2031-06-30", "--out", str(out))
    assert (made["batch"], made["count"], made["value"], made["state"]) == ("NOV26", 30, "TVU 150", "generated")
    with out.open(newline="") as fh:
        printed = list(csv.DictReader(fh))
    assert list(printed[0]) == ["serial", "pin", "value", "expires"]
    assert len(printed) == 30 and len({row["pin"] for row in printed}) == 30
    assert all(row["pin"].isdigit() and parse_pin(row["pin"]) and row["value"] == "TVU 150"
               and row["expires"] == "2031-06-30" for row in printed)
    assert (out.stat().st_mode & 0o077) == 0  # the printer file is the owner's alone

    again = run(db_url, "cards", "generate", "--batch", "NOV26", "--count", "1", "--tvu", "1", "--out",
                str(tmp_path / "again.csv"))
    assert again.returncode == 2 and "already_exists" in again.stderr and not (tmp_path / "again.csv").exists()
    over = run(db_url, "cards", "generate", "--batch", "OTHER", "--count", "1", "--tvu", "1", "--out", str(out))
    assert over.returncode == 2 and "exists" in over.stderr
    # without security.pin_key a SQLite database gets a generated key file, and PostgreSQL refuses:
    # tests/e2e/test_easy_start.py

    first, tenth = printed[0]["serial"], printed[9]["serial"]
    activated = ok_json(db_url, "cards", "activate", "--batch", "NOV26", "--serials", f"{first}-{tenth}",
                        "--dealer", "D-9")
    assert (activated["activated"], activated["total_tvu"]) == (10, 1500)

    lockouts = lockouts_from_settings(settings, MemoryState(clock=clock), clock=clock)
    got = await cards.redeem_card(billing, lockouts, pin=printed[3]["pin"], msisdn="0712345678", channel="ussd")
    assert (got.card, got.tvu_credited, got.renewed, got.subscriber.status) == ("12345678", 150, True, "active")
    await db.close()

    shown = ok_json(db_url, "cards", "show", printed[3]["serial"])
    assert (shown["state"], shown["dealer"], shown["redeemed_by"], shown["redeemed_card"], shown["channel"]) == (
        "redeemed", "D-9", "+254712345678", "12345678", "ussd")
    stolen_box = f"{printed[20]['serial']}-{printed[29]['serial']}"
    blocked = ok_json(db_url, "cards", "block", printed[9]["serial"], stolen_box)
    assert (blocked["blocked"], blocked["value_tvu"]) == (11, 150)

    [report] = ok_json(db_url, "report", "cards")
    assert {k: report[k] for k in ("batch", "generated", "activated", "redeemed", "blocked", "expired",
                                   "outstanding_tvu", "audit")} == {
        "batch": "NOV26", "generated": 30, "activated": 10, "redeemed": 1, "blocked": 11, "expired": 0,
        "outstanding_tvu": 8 * 150, "audit": "ok"}
    db = open_database(db_url)
    ledger = {(line.account, line.unit): line.balance for line in await reports.trial_balance(Billing(db, Rates({})))}
    await db.close()
    assert sum(balance for (_account, unit), balance in ledger.items() if unit == "TVU") == 0
    assert ledger[("cards:liability", "TVU")] == -8 * 150
