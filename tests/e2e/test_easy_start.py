"""A new operator's first steps, as real processes in a fresh directory with no ``TVTOPUP_*``
variables: printed PINs redeem on ``tvtopup serve`` with no setup, a dealer sells through
the signed API, and the generated keys stay in one private file and out of every log."""
from __future__ import annotations

import csv
import json
import os
import signal
import stat
import subprocess
import sys
import time
import tomllib
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from gateway.dealer_api.signing import signed_headers
from tests.e2e.test_sms_sim import free_port

CARD, PHONE = "12345678", "+254712345678"


def clean_env(**extra: str) -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if not k.startswith("TVTOPUP_")}, **extra}


def tvtopup(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gateway", *args], capture_output=True, text=True,
                          env=env or clean_env(), cwd=cwd, timeout=90)


def ok(cwd: Path, *args: str, env: dict[str, str] | None = None) -> str:
    done = tvtopup(cwd, *args, env=env)
    assert done.returncode == 0, done.stderr
    return done.stdout + done.stderr


class Serving:
    """``tvtopup serve`` in ``cwd`` on a free port, its output in ``serve.log``."""

    def __init__(self, cwd: Path, env: dict[str, str] | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = cwd / "serve.log"
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen([sys.executable, "-m", "gateway", "serve", "--port", str(self.port)],
                                     env=env or clean_env(), cwd=cwd, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=1):
                    return
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    self.stop()
                    pytest.fail("serve did not come up: " + self.log_path.read_text())
                time.sleep(0.2)

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return self.log_path.read_text()


def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_a_fresh_directory_redeems_printed_pins_and_sells_through_the_dealer_api(tmp_path):
    ok(tmp_path, "package", "add", "BASIC", "--name", "Basic bouquet", "--days", "30", "--tvu", "150")
    ok(tmp_path, "subscriber", "add", "--card", CARD, "--msisdn", "0712345678", "--package", "BASIC")
    outputs = [ok(tmp_path, "cards", "generate", "--batch", "DEMO", "--count", "2", "--tvu", "200",
                  "--out", "demo.csv"),
               ok(tmp_path, "cards", "activate", "--batch", "DEMO")]
    added = tvtopup(tmp_path, "dealer", "add", "Corner shop", "--currency", "KES", "--json")
    assert added.returncode == 0, added.stderr
    made = json.loads(added.stdout)
    outputs.append(ok(tmp_path, "dealer", "fund", str(made["id"]), "KES 5000"))

    key_file = tmp_path / "tvtopup.keys"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    keys = tomllib.loads(key_file.read_text())
    secrets = [keys["security"]["pin_key"], keys["dealers"]["secret_key"]]
    assert all(len(s) >= 32 for s in secrets)

    with open(tmp_path / "demo.csv", newline="") as f:
        pins = [row["pin"] for row in csv.DictReader(f)]
    server = Serving(tmp_path)
    try:
        reply = ok(tmp_path, "sms-sim", "--msisdn", PHONE, f"TOPUP {pins[0]}", "--url", server.url)
        assert "TVU" in reply or "active" in reply.lower(), reply
        shown = json.loads(tvtopup(tmp_path, "subscriber", "show", CARD, "--json").stdout)
        assert (shown["status"], shown["wallet_tvu"]) == ("active", 50)

        body = json.dumps({"card": CARD, "tvu": 100}).encode()
        headers = {**signed_headers(made["key_id"], made["secret"], "POST", "/api/v1/topups", int(time.time()), body),
                   "Idempotency-Key": "first-sale", "Content-Type": "application/json"}
        status, sold = post(server.url + "/api/v1/topups", body, headers)
        assert (status, sold.get("tvu_credited"), sold.get("wallet_tvu")) == (201, 100, 150), sold
    finally:
        log = server.stop()
    server = Serving(tmp_path)  # restarted: a captured request under a new key is still refused
    try:
        replayed = post(server.url + "/api/v1/topups", body, {**headers, "Idempotency-Key": "stolen"})
        resent = post(server.url + "/api/v1/topups", body, headers)  # the POS that lost the response
        assert (replayed[0], resent) == (401, (201, sold))
    finally:
        log += server.stop()
    assert json.loads(tvtopup(tmp_path, "subscriber", "show", CARD, "--json").stdout)["wallet_tvu"] == 150
    assert "security.pin_key" in log and str(key_file.name) in log  # where each key came from
    for secret in secrets:
        assert all(secret not in text for text in [log, *outputs])


def test_generated_keys_are_made_once_and_kept(tmp_path):
    ok(tmp_path, "db", "upgrade")
    first = (tmp_path / "tvtopup.keys").read_text()
    ok(tmp_path, "report", "ledger")
    assert (tmp_path / "tvtopup.keys").read_text() == first
    configured = clean_env(TVTOPUP_SECURITY__PIN_KEY="an-explicit-pin-key-0123456789abcdef")
    ok(tmp_path, "report", "ledger", env=configured)
    assert (tmp_path / "tvtopup.keys").read_text() == first


def test_a_key_file_others_can_read_is_refused(tmp_path):
    ok(tmp_path, "db", "upgrade")
    (tmp_path / "tvtopup.keys").chmod(0o644)
    done = tvtopup(tmp_path, "report", "ledger")
    assert done.returncode != 0 and done.stderr.startswith("error: ") and "tvtopup.keys" in done.stderr
    assert "Traceback" not in done.stderr and "chmod 600" in done.stderr


def test_with_postgresql_and_no_keys_nothing_is_generated(pg_url, tmp_path):
    env = clean_env(TVTOPUP_DATABASE_URL=pg_url)
    done = tvtopup(tmp_path, "cards", "generate", "--batch", "PG", "--count", "1", "--tvu", "10", "--out", "pg.csv",
                   env=env)
    assert done.returncode == 2 and "security.pin_key" in done.stderr and "Traceback" not in done.stderr
    assert list(tmp_path.iterdir()) == []
    server = Serving(tmp_path, env)
    log = server.stop()
    assert "security.pin_key is not set" in log and "dealers.secret_key is not set" in log
    assert not (tmp_path / "tvtopup.keys").exists()
