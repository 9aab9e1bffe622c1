"""A dealer made with the CLI sells through the signed API of a running ``tvtopup serve``
(real processes, as an operator and a dealer's point-of-sale system would)."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

from gateway.dealer_api.signing import signed_headers

MASTER = "e2e-master-key-0123456789abcdef"


def env_for(db_url: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TVTOPUP_")}
    env.update({"TVTOPUP_DATABASE_URL": db_url, "TVTOPUP_DEALERS__SECRET_KEY": MASTER})
    return env


def cli(db_url: str, *args: str):
    done = subprocess.run([sys.executable, "-m", "gateway", *args, "--json"], capture_output=True, text=True,
                          env=env_for(db_url), timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(port: int, key: str, secret: str, method: str, path: str, doc: dict | None = None, idem: str = ""):
    body = json.dumps(doc).encode() if doc is not None else b""
    headers = signed_headers(key, secret, method, path, int(time.time()), body)
    if idem:
        headers["Idempotency-Key"] = idem
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body if doc is not None else None,
                                 method=method, headers={**headers, "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_cli_dealer_sells_through_the_signed_api(db_url, tmp_path):
    cli(db_url, "package", "add", "BASIC", "--name", "Basic", "--days", "30", "--tvu", "150")
    cli(db_url, "subscriber", "add", "--card", "12345678", "--msisdn", "0712345678", "--package", "BASIC")
    made = cli(db_url, "dealer", "add", "Corner shop", "--currency", "KES", "--commission-pct", "5")
    assert {"id", "key_id", "secret"} <= made.keys()
    assert cli(db_url, "dealer", "fund", str(made["id"]), "KES 500")["balance"] == "KES 500.00"

    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "gateway", "serve", "--port", str(port)], cwd=tmp_path,
                            env=env_for(db_url), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                    break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, "serve did not come up"
                time.sleep(0.2)
        status, sold = call(port, made["key_id"], made["secret"], "POST", "/api/v1/topups",
                            {"card": "12345678", "package": "BASIC"}, idem="pos-1")
        assert status == 201, sold
        assert (sold["renewed"], sold["status"], sold["dealer_balance"]) == (True, "active", "KES 357.50")
        status, refused = call(port, made["key_id"], "0" * 64, "GET", "/api/v1/balance")
        assert (status, refused["error"]) == (401, "unauthorized")
        status, balance = call(port, made["key_id"], made["secret"], "GET", "/api/v1/balance")
        assert (status, balance["balance"]) == (200, "KES 357.50")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)

    assert cli(db_url, "dealer", "show", str(made["id"]))["balance"] == "KES 357.50"
    assert cli(db_url, "subscriber", "show", "12345678")["status"] == "active"
    report = cli(db_url, "report", "dealers")
    assert (report[0]["sales"], report[0]["face_value"], report[0]["commission"]) == (1, "KES 150.00", "KES 7.50")
    ledger = cli(db_url, "report", "ledger")
    for unit in ("KES", "TVU"):
        assert sum(line["balance"] for line in ledger if line["unit"] == unit) == 0
    refused = subprocess.run([sys.executable, "-m", "gateway", "topup", "reverse", str(sold["id"]), "--reason", "x"],
                             capture_output=True, text=True, env=env_for(db_url), timeout=60)
    assert refused.returncode == 2 and "not_reversible" in refused.stderr
