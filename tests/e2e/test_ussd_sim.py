"""The README's USSD walk-through, as real processes: ``tvtopup serve`` on the default
SQLite file and ``tvtopup ussd-sim`` typing into it. A new subscriber picks French,
redeems a scratch card, renews a package and sees the new expiry; ``tvtopup ussd log``
then shows what was typed and seen, with the PIN hidden.
"""
from __future__ import annotations

import csv
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

PIN_KEY = "e2e-ussd-pin-key-0123456789abcdef"
CARD, MSISDN = "71000001", "+254712000111"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cli(env, cwd, *args: str, stdin: str | None = None) -> str:
    done = subprocess.run([sys.executable, "-m", "gateway", *args], cwd=cwd, env=env, input=stdin,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def wait_ready(port: int, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[0]
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("gateway not ready")


def test_dial_pick_french_redeem_renew_and_read_the_log(tmp_path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TVTOPUP_")}
    env.update({"TVTOPUP_SECURITY__PIN_KEY": PIN_KEY, "TVTOPUP_SERVER__PORT": str(port),
                "TVTOPUP_LOGGING__LEVEL": "WARNING"})
    cli(env, tmp_path, "package", "add", "BASIC", "--name", "Basic", "--days", "30", "--tvu", "100")
    cli(env, tmp_path, "subscriber", "add", "--card", CARD, "--msisdn", MSISDN, "--package", "BASIC")
    cli(env, tmp_path, "cards", "generate", "--batch", "DEC", "--count", "2", "--tvu", "250", "--out", "dec.csv")
    cli(env, tmp_path, "cards", "activate", "--batch", "DEC")
    with open(tmp_path / "dec.csv", newline="") as f:
        pin = next(csv.DictReader(f))["pin"]

    proc = subprocess.Popen([sys.executable, "-m", "gateway", "serve"], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_ready(port, proc)
        first = cli(env, tmp_path, "ussd-sim", "--msisdn", "0712000111", stdin=f"5\n2\n2\n{pin}\n")
        assert "Langue" in first and "1. Solde" in first and "Entrez le code PIN" in first
        assert "END 250 TVU ajoutes a la carte 71000001" in first  # the card renews Basic at once
        second = cli(env, tmp_path, "ussd-sim", "--msisdn", MSISDN, stdin="3\n1\n1\n1\n")
        assert "Renouveler Basic sur la carte 71000001 pour 100 TVU du solde?" in second
        renewed = second.split("END ", 1)[1]
        assert renewed.startswith("Basic est actif sur la carte 71000001 jusqu'au ") and "Solde: 50 TVU" in renewed
        shown = cli(env, tmp_path, "subscriber", "show", CARD, "--json")
        expires = shown.split('"expires_at": "', 1)[1][:10]
        assert expires in renewed
        time.sleep(0.5)  # the session log is written a moment after each hop
        log = cli(env, tmp_path, "ussd", "log", "--msisdn", MSISDN, "--json")
        assert "****" in log and pin not in log and log.count('"hop"') == 10
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0
