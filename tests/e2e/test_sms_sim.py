"""``tvtopup sms-sim`` against a real ``tvtopup serve`` process: SMS commands over Africa's Talking's
inbound callback, as a phone and the aggregator would send them."""
from __future__ import annotations

import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

CARD, PHONE, OTHER_PHONE = "40000001", "+254711000001", "+254733000000"
TOKEN = "sms-callback-token-1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def environment(db_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TVTOPUP_")}
    env.update({"TVTOPUP_DATABASE_URL": db_url, "TVTOPUP_SECURITY__PIN_KEY": "e2e-sms-pin-key-0123456789abcdef",
                "TVTOPUP_AFRICASTALKING__SMS_CALLBACK_TOKEN": TOKEN, **extra})
    return env


def tvtopup(env: dict[str, str], *args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gateway", *args], capture_output=True, text=True, env=env, cwd=cwd,
                          timeout=60)


@pytest.fixture
def gateway(db_url, tmp_path):
    """A seeded database and ``tvtopup serve`` on a free port: (url, env, PINs of activated cards)."""
    env = environment(db_url)
    for args in (("package", "add", "BASIC", "--name", "Basic", "--days", "30", "--tvu", "100"),
                 ("subscriber", "add", "--card", CARD, "--msisdn", PHONE, "--package", "BASIC", "--lang", "sw"),
                 ("cards", "generate", "--batch", "E2E", "--count", "2", "--tvu", "100", "--out",
                  str(tmp_path / "cards.csv")),
                 ("cards", "activate", "--batch", "E2E")):
        done = tvtopup(env, *args)
        assert done.returncode == 0, done.stderr
    with open(tmp_path / "cards.csv", newline="") as f:
        pins = [row["pin"] for row in csv.DictReader(f)]
    port = free_port()
    log = open(tmp_path / "serve.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "gateway", "serve", "--port", str(port)], env=env, cwd=tmp_path,
                            stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(url + "/healthz", timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    pytest.fail("serve did not come up: " + (tmp_path / "serve.log").read_text())
                time.sleep(0.2)
        yield url, env, pins
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def sim(url: str, env: dict[str, str], phone: str, text: str, *extra: str) -> subprocess.CompletedProcess:
    return tvtopup(env, "sms-sim", "--msisdn", phone, text, "--url", url, *extra)


def wallet(env: dict[str, str]) -> int:
    done = tvtopup(env, "subscriber", "show", CARD, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["wallet_tvu"]


def test_sms_sim_runs_commands_on_a_running_gateway(gateway) -> None:
    """A wrong callback token is refused; then BAL, TOPUP (and its retry), HELP as a phone sends them."""
    url, env, (pin, second_pin) = gateway

    refused = sim(url, {**env, "TVTOPUP_AFRICASTALKING__SMS_CALLBACK_TOKEN": "wrong"}, PHONE, f"JAZA {pin}")
    assert refused.returncode == 1 and "HTTP 403" in refused.stderr and refused.stdout == ""

    done = sim(url, env, PHONE, "salio")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"Kadi {CARD}: Basic bado haijaanza. Salio: 0 TVU."

    grouped = " ".join(pin[i:i + 4] for i in range(0, len(pin), 4))
    done = sim(url, env, PHONE, f"JAZA: {grouped}", "--id", "ATXid_e2e_1")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Basic iko hai hadi ") and f"Kadi {CARD}." in done.stdout
    assert wallet(env) == 0  # 100 TVU in, 100 TVU for the package: renewed at once

    retried = sim(url, env, PHONE, f"JAZA: {grouped}", "--id", "ATXid_e2e_1")  # the provider's retry
    assert (retried.returncode, retried.stdout, retried.stderr.strip()) == (0, "", "(no reply)")

    done = sim(url, env, OTHER_PHONE, "help", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["reply"].startswith("BAL = balance.")

    done = sim(url, env, PHONE, f"JAZA {second_pin}")
    assert done.returncode == 0 and done.stdout.startswith("TVU 100 zimeongezwa kwa kadi 40000001")
    assert wallet(env) == 100


def test_sms_sim_reports_a_gateway_that_is_not_there(tmp_path) -> None:
    env = environment(f"sqlite+aiosqlite:///{tmp_path / 'unused.db'}")
    done = sim(f"http://127.0.0.1:{free_port()}", env, PHONE, "BAL")
    assert done.returncode == 1 and "cannot reach the gateway" in done.stderr
