"""The operator's CLI and ``tvtopup serve``, run as real processes, as an operator would."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

CONTRACT_SUBSCRIBER_KEYS = {"card", "msisdn", "status", "package", "expires_at", "wallet_tvu"}


def run(db_url: str, *args: str, cwd=None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TVTOPUP_")}
    env["TVTOPUP_DATABASE_URL"] = db_url
    return subprocess.run([sys.executable, "-m", "gateway", *args], capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=60)


def ok_json(db_url: str, *args: str):
    done = run(db_url, *args, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_operator_walkthrough(db_url, tmp_path):
    pkg = ok_json(db_url, "package", "add", "basic", "--name", "Basic", "--days", "30", "--tvu", "150",
                  "--products", "101,102")
    assert pkg == {"code": "BASIC", "name": "Basic", "days": 30, "tvu": 150, "products": ["101", "102"]}
    sub = ok_json(db_url, "subscriber", "add", "--card", "12345678", "--msisdn", "0712345678", "--package", "BASIC")
    assert CONTRACT_SUBSCRIBER_KEYS <= sub.keys()
    assert (sub["status"], sub["wallet_tvu"], sub["expires_at"], sub["msisdn"]) == ("new", 0, None, "+254712345678")

    paid = ok_json(db_url, "payment", "record", "12345678", "KES 200", "--method", "cash", "--ref", "RCPT-1")
    again = ok_json(db_url, "payment", "record", "12345678", "KES 200", "--method", "cash", "--ref", "RCPT-1")
    assert (paid["status"], paid["tvu"], paid["renewed"], again["duplicate"]) == ("credited", 200, True, True)

    shown = ok_json(db_url, "subscriber", "show", "12345678")
    assert (shown["status"], shown["package"], shown["wallet_tvu"]) == ("active", "BASIC", 50)
    assert len(shown["expires_at"]) == 20 and shown["expires_at"].endswith("Z")

    ledger = ok_json(db_url, "report", "ledger")
    assert {line["unit"] for line in ledger} == {"KES", "TVU"}
    for unit in ("KES", "TVU"):
        assert sum(line["balance"] for line in ledger if line["unit"] == unit) == 0
    assert {"account": "wallet:12345678", "unit": "TVU", "balance": -50} in ledger


def test_refusals_exit_2_and_change_nothing(db_url):
    bad = run(db_url, "subscriber", "add", "--card", "12AB", "--msisdn", "0712345678")
    assert bad.returncode == 2 and "invalid_card" in bad.stderr
    assert run(db_url, "subscriber", "show", "12345678").returncode == 2
    assert ok_json(db_url, "report", "ledger") == []


def test_import_is_all_or_nothing(db_url, tmp_path):
    ok_json(db_url, "package", "add", "BASIC", "--name", "Basic", "--days", "30", "--tvu", "150")
    bad = tmp_path / "bad.csv"
    bad.write_text("card,msisdn,package,name,lang,expires_at,wallet_tvu\n"
                   "11111111,0712345678,BASIC,Ann,en,2099-01-01T00:00:00Z,20\n"
                   "2222,0712345679,BASIC,Bob,sw,,0\n"
                   "33333333,0712345670,NOPE,Cy,fr,,5\n")
    done = run(db_url, "subscriber", "import", str(bad))
    assert done.returncode == 2
    assert "line 3" in done.stderr and "line 4" in done.stderr
    assert run(db_url, "subscriber", "show", "11111111").returncode == 2

    good = tmp_path / "good.csv"
    good.write_text("card,msisdn,package,name,lang,expires_at,wallet_tvu\n"
                    "11111111,0712345678,BASIC,Ann,en,2099-01-01T00:00:00Z,20\n"
                    "22222222,+254712345679,BASIC,Bob,sw,,0\n")
    assert ok_json(db_url, "subscriber", "import", str(good)) == {"imported": 2}
    ann = ok_json(db_url, "subscriber", "show", "11111111")
    assert (ann["status"], ann["wallet_tvu"], ann["expires_at"]) == ("active", 20, "2099-01-01T00:00:00Z")
    ledger = ok_json(db_url, "report", "ledger")
    assert {"account": "tvu:opening", "unit": "TVU", "balance": 20} in ledger


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_with_no_configuration_starts_and_stops_on_sigterm(tmp_path):
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TVTOPUP_")}
    proc = subprocess.Popen([sys.executable, "-m", "gateway", "serve", "--port", str(port)], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as resp:
                    assert json.loads(resp.read()) == {"status": "ok", "database": "ok", "redis": "disabled"}
                    break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    pytest.fail("serve did not come up: " + (proc.stdout.read() if proc.poll() is not None else ""))
                time.sleep(0.2)
        assert (tmp_path / "tvtopup.db").exists()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
        assert "stopped" in proc.stdout.read()
    finally:
        if proc.poll() is None:
            proc.kill()
