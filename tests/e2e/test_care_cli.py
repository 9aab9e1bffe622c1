"""Customer care and corrections through the operator's CLI, run as real processes.

Each money-changing command is followed by ``report ledger``, which exits non-zero when a
unit does not sum to zero.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

CARD = "30000001"


def run(db_url: str, *args: str, env_extra: dict | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TVTOPUP_")}
    env["TVTOPUP_DATABASE_URL"] = db_url
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", "gateway", *args], capture_output=True, text=True, env=env,
                          timeout=60)


def ok(db_url: str, *args: str, **kw):
    done = run(db_url, *args, "--json", **kw)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def refused(db_url: str, *args: str, code: str) -> str:
    done = run(db_url, *args)
    assert done.returncode == 2 and code in done.stderr, (done.returncode, done.stderr)
    return done.stderr


def balanced(db_url: str) -> list[dict]:
    lines = ok(db_url, "report", "ledger")
    for unit in {line["unit"] for line in lines}:
        assert sum(line["balance"] for line in lines if line["unit"] == unit) == 0
    return lines


def setup(db_url: str) -> None:
    ok(db_url, "package", "add", "BASIC", "--name", "Basic", "--days", "30", "--tvu", "150", "--products", "101")
    ok(db_url, "subscriber", "add", "--card", CARD, "--msisdn", "0712345678", "--package", "BASIC")


def test_payment_reverse_clear_bounce_refund(db_url):
    setup(db_url)
    paid = ok(db_url, "payment", "record", CARD, "KES 200", "--method", "cash", "--ref", "RCPT-1")
    assert paid["renewed"] is True
    rev = ok(db_url, "payment", "reverse", "cash:RCPT-1", "--reason", "keyed twice", "--by", "ann")
    assert (rev["renewal_undone"], rev["wallet_tvu"], rev["status"]) == (True, 0, "new")
    balanced(db_url)
    refused(db_url, "payment", "reverse", "RCPT-1", "--reason", "again", code="already_reversed")
    refused(db_url, "payment", "reverse", "NOPE-1", "--reason", "typo", code="not_found")

    held = ok(db_url, "payment", "record", CARD, "KES 200", "--method", "cheque", "--ref", "CHQ-1")
    assert held["status"] == "held" and ok(db_url, "subscriber", "show", CARD)["wallet_tvu"] == 0
    cleared = ok(db_url, "payment", "clear", "CHQ-1")
    assert cleared["status"] == "cleared" and ok(db_url, "subscriber", "show", CARD)["status"] == "active"
    balanced(db_url)
    bounced = ok(db_url, "payment", "bounce", "CHQ-1")
    assert bounced["status"] == "bounced" and bounced["reversal"]["renewal_undone"] is True
    balanced(db_url)

    ok(db_url, "payment", "record", CARD, "KES 100", "--method", "bank", "--ref", "BANK-1")
    owed = ok(db_url, "payment", "refund", "BANK-1")
    assert owed["status"] == "payable"
    assert [r["status"] for r in ok(db_url, "report", "refunds")] == ["payable"]
    paid_out = ok(db_url, "refund", "pay", str(owed["id"]), "--ref", "EFT-123")
    assert (paid_out["status"], paid_out["paid_ref"]) == ("paid", "EFT-123")
    assert [r["status"] for r in ok(db_url, "report", "refunds")] == ["paid"]
    assert balanced(db_url) == []  # every shilling in went back out


def test_negative_wallet_only_when_the_operator_allows_it(db_url):
    setup(db_url)
    ok(db_url, "payment", "record", CARD, "KES 100", "--method", "cash", "--ref", "RCPT-2")  # 100 TVU
    ok(db_url, "payment", "record", CARD, "KES 100", "--method", "cash", "--ref", "RCPT-3")  # renews: 50 left
    err = refused(db_url, "payment", "reverse", "RCPT-2", "--reason", "forged receipt", code="insufficient_wallet")
    assert "50 TVU missing" in err
    assert ok(db_url, "subscriber", "show", CARD)["wallet_tvu"] == 50
    allow = {"TVTOPUP_PAYMENTS__ALLOW_NEGATIVE_AFTER_REVERSAL": "true"}
    rev = ok(db_url, "payment", "reverse", "RCPT-2", "--reason", "forged receipt", env_extra=allow)
    assert (rev["shortfall_tvu"], rev["wallet_tvu"], rev["status"]) == (50, -50, "active")
    balanced(db_url)


def test_subscriber_care_lapsed_and_notify(db_url, tmp_path):
    setup(db_url)
    five_days_ago = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 5 * 86400 - 60))
    imported = tmp_path / "old.csv"
    imported.write_text("card,msisdn,package,name,lang,expires_at,wallet_tvu\n"
                        f"30000005,0733000555,BASIC,Baraka,sw,{five_days_ago},0\n")
    ok(db_url, "subscriber", "import", str(imported))
    [row] = ok(db_url, "report", "lapsed", "--days", "30")
    assert {k: row[k] for k in ("card", "msisdn", "package", "expired_at", "days_lapsed")} == \
        {"card": "30000005", "msisdn": "+254733000555", "package": "BASIC", "expired_at": five_days_ago,
         "days_lapsed": 5}
    edited = ok(db_url, "subscriber", "edit", CARD, "--msisdn", "0722000111", "--name", "Achieng", "--lang", "sw",
                "--region", "Coast")
    assert (edited["msisdn"], edited["lang"], edited["region"]) == ("+254722000111", "sw", "Coast")
    refused(db_url, "subscriber", "edit", CARD, "--msisdn", "12345", code="invalid_msisdn")
    refused(db_url, "subscriber", "edit", "30009999", "--name", "x", code="unknown_card")

    ok(db_url, "payment", "record", CARD, "KES 150", "--method", "cash", "--ref", "RCPT-9")
    suspended = ok(db_url, "subscriber", "suspend", CARD, "--reason", "fraud check")
    assert suspended["status"] == "suspended" and suspended["wallet_tvu"] == 0
    resumed = ok(db_url, "subscriber", "resume", CARD)
    assert resumed["status"] == "active"
    assert ok(db_url, "report", "lapsed", "--days", "30", "--region", "Coast") == []
    assert run(db_url, "report", "lapsed", "--csv").stdout.splitlines()[0].startswith("card,msisdn,")

    dry = ok(db_url, "notify", "send", "--region", "Coast", "--osd", "Outage tonight", "--dry-run")
    assert (dry["recipients"], dry["queued"]) == (1, 0)
    sent = ok(db_url, "notify", "send", "--all", "--sms", "New channels")
    assert sent["queued"] == 2  # two phones
    refused(db_url, "notify", "send", "--card", "30009999", "--osd", "hi", code="unknown_card")

    ended = ok(db_url, "subscriber", "terminate", CARD, "--reason", "moved away")
    assert ended["terminated"] is True and ended["refund_due"] == "KES 0.00"
    refused(db_url, "subscriber", "resume", CARD, code="conflict")
    balanced(db_url)


def test_cli_actions_reach_the_audit_trail(db_url):
    setup(db_url)
    ok(db_url, "payment", "record", "30009999", "KES 100", "--method", "cash", "--ref", "RCPT-7")  # unknown card
    ok(db_url, "payment", "assign", "RCPT-7", CARD, "--operator", "bob")
    ok(db_url, "subscriber", "grant-days", CARD, "3", "--reason", "outage on 1 Dec")
    key = {"TVTOPUP_DEALERS__SECRET_KEY": "k" * 40}
    dealer = ok(db_url, "dealer", "add", "Duka", "--currency", "KES", env_extra=key)
    ok(db_url, "dealer", "fund", str(dealer["id"]), "KES 5000", env_extra=key)
    refused(db_url, "subscriber", "grant-days", "30009999", "3", "--reason", "typo", code="unknown_card")
    ok(db_url, "subscriber", "suspend", CARD, "--reason", "fraud check", "--by", "carol")

    trail = {r["action"]: r for r in ok(db_url, "admin", "audit")}
    assert {"payment.assign", "subscriber.grant-days", "dealer.fund", "subscriber.suspend"} <= trail.keys()
    assert (trail["payment.assign"]["actor"], trail["payment.assign"]["target"]) == ("bob", "RCPT-7")
    assert trail["subscriber.grant-days"]["details"]["why"] == "outage on 1 Dec"
    assert trail["dealer.fund"]["details"]["amount"] == "KES 5000"
    assert (trail["subscriber.suspend"]["actor"], trail["subscriber.suspend"]["details"]["why"]) == \
        ("carol", "fraud check")
    assert len([r for r in ok(db_url, "admin", "audit") if r["action"] == "subscriber.grant-days"]) == 1
    balanced(db_url)
