"""Protected mode against a real ``tvtopup serve``, called from another host.

The other host is a network namespace this test creates, joined to this one by a veth
pair (``../shared/peers.md``, "A second host on the same machine"): its requests arrive
from a link-local address, not from loopback. With no ``callback_token`` and no
``allow_ips`` every provider callback (M-Pesa, MTN, Airtel, Africa's Talking payments,
USSD, SMS inbound and delivery) answers it 403 and nothing is recorded, a forged
``X-Forwarded-For: 127.0.0.1`` included, while loopback is still served; with either
setting the same confirmation from the namespace is credited. Traffic goes only to
loopback and to the namespace's own link.

Payloads: Daraja's documented C2B confirmation and Africa's Talking's documented payment
notification, as in ``test_mpesa_c2b.py`` and ``test_at_payments_notification.py``.
"""
from __future__ import annotations

import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.parse
import urllib.request
import uuid

import pytest

MPESA = "/mobile-money/daraja"  # the Daraja routes' prefix (also served under the old /mobile-money/mpesa)
CARD, PHONE = "10000001", "+254712345678"
TOKEN = "mpesa-callback-token-1"
PROVIDERS = ("africastalking", "africastalking-sms", "africastalking-ussd", "airtel", "mpesa", "mtn")


def confirmation(txid: str, amount: str = "500.00") -> dict:
    return {"TransactionType": "Pay Bill", "TransID": txid, "TransTime": "20270115103000", "TransAmount": amount,
            "BusinessShortCode": "600638", "BillRefNumber": CARD, "InvoiceNumber": "", "OrgAccountBalance": "49197.00",
            "ThirdPartyTransID": "", "MSISDN": "25470****149", "FirstName": "John", "MiddleName": "", "LastName": "Doe"}


AT_NOTIFICATION = {"transactionId": "ATPid_SampleTxnId123", "category": "MobileC2B", "provider": "Mpesa",
                   "providerRefId": "SAMPLE_MPESA_CODE", "providerChannel": "525900", "productName": "tvtopup",
                   "sourceType": "PhoneNumber", "source": "+254711222333", "destinationType": "Wallet",
                   "destination": "PaymentWallet", "value": "KES 1000.00", "transactionFee": "KES 1.00",
                   "providerFee": "KES 10.00", "status": "Success", "description": "Received payment",
                   "requestMetadata": {}, "transactionDate": "2024-05-01T10:00:00.000Z", "clientAccount": CARD}
FORMS = {
    "/ussd/africastalking": {"sessionId": "ATUid_1", "serviceCode": "*123#", "phoneNumber": PHONE,
                             "networkCode": "63902", "text": ""},
    "/sms/africastalking/inbound": {"from": PHONE, "to": "12345", "text": "BAL", "date": "2027-01-15 10:30:00",
                                    "id": "ATXid_1", "linkId": ""},
    "/sms/africastalking/delivery": {"id": "ATXid_2", "status": "Success", "phoneNumber": PHONE,
                                     "networkCode": "63902", "retryCount": "0"},
}
JSON_CALLBACKS = {
    f"{MPESA}/c2b/confirmation": confirmation("RKTQDM7W6S"),
    "/mobile-money/africastalking/notification": AT_NOTIFICATION,
    "/mobile-money/mtn/callback": {"financialTransactionId": "1", "externalId": "x", "status": "SUCCESSFUL"},
    "/mobile-money/airtel/callback": {"transaction": {"id": "x", "status_code": "TS", "airtel_money_id": "1"}},
}

# What the namespace runs: one request, printed as {"status": …, "body": …}.
CALLER = textwrap.dedent("""
    import json, sys, urllib.error, urllib.request
    url, kind, body, headers = sys.argv[1], sys.argv[2], sys.argv[3].encode(), json.loads(sys.argv[4])
    headers["Content-Type"] = "application/json" if kind == "json" else "application/x-www-form-urlencoded"
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=body, headers=headers), timeout=10) as r:
            print(json.dumps({"status": r.status, "body": r.read().decode()}))
    except urllib.error.HTTPError as e:
        print(json.dumps({"status": e.code, "body": e.read().decode()}))
""")


def _ip(*args: str, netns: str | None = None) -> None:
    cmd = ["ip", "-n", netns, *args] if netns else ["ip", *args]
    subprocess.run(cmd, check=True, capture_output=True, timeout=10)


@pytest.fixture
def other_host():
    """A namespace joined by a veth pair: (namespace, its address, our address on the link)."""
    if os.geteuid() != 0 or shutil.which("ip") is None or \
            subprocess.run(["ip", "netns", "list"], capture_output=True).returncode != 0:
        pytest.skip("needs root and `ip netns`")
    tag = uuid.uuid4().hex[:6]
    ns, host_if, ns_if = f"tvg{tag}", f"tvgh{tag}", f"tvgn{tag}"  # at most 15 characters
    subnet = random.Random(tag).randrange(1, 16384)  # one /30 of 169.254.0.0/16 per test
    ours = f"169.254.{subnet // 64}.{(subnet % 64) * 4 + 1}"
    theirs = f"169.254.{subnet // 64}.{(subnet % 64) * 4 + 2}"
    try:
        _ip("netns", "add", ns)
        _ip("link", "add", host_if, "type", "veth", "peer", "name", ns_if)
        _ip("link", "set", ns_if, "netns", ns)
        _ip("addr", "add", f"{ours}/30", "dev", host_if)
        _ip("link", "set", host_if, "up")
        _ip("addr", "add", f"{theirs}/30", "dev", ns_if, netns=ns)
        _ip("link", "set", ns_if, "up", netns=ns)
        _ip("link", "set", "lo", "up", netns=ns)
        yield ns, theirs, ours
    finally:
        subprocess.run(["ip", "link", "del", host_if], capture_output=True, timeout=10)
        subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=10)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def environment(db_url: str, **settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TVTOPUP_")}
    env.update({"TVTOPUP_DATABASE_URL": db_url, "TVTOPUP_SECURITY__PIN_KEY": "e2e-guard-pin-key-0123456789abcdef",
                "TVTOPUP_DEALERS__SECRET_KEY": "e2e-guard-dealer-key-0123456789ab", **settings})
    return env


def tvtopup(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "gateway", *args], capture_output=True, text=True, env=env,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    return done


class Gateway:
    """``tvtopup serve --host 0.0.0.0`` with a package and a subscriber; stopped by :meth:`stop`."""

    def __init__(self, env: dict[str, str], tmp_path) -> None:
        tvtopup(env, "package", "add", "BASIC", "--name", "Basic", "--days", "30", "--tvu", "1000")  # more than one payment: no renewal
        tvtopup(env, "subscriber", "add", "--card", CARD, "--msisdn", PHONE, "--package", "BASIC")
        self.env, self.port, self.log_path = env, free_port(), tmp_path / "serve.log"
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen([sys.executable, "-m", "gateway", "serve", "--host", "0.0.0.0", "--port",
                                      str(self.port)], env=env, cwd=tmp_path, stdout=self.log,
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=1):
                    return
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    self.stop()
                    pytest.fail("serve did not come up: " + self.log_path.read_text())
                time.sleep(0.2)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()

    def wallet_tvu(self) -> int:
        return json.loads(tvtopup(self.env, "subscriber", "show", CARD, "--json").stdout)["wallet_tvu"]


def call_from(ns: str, url: str, kind: str, doc: dict, headers: dict | None = None) -> tuple[int, str]:
    body = json.dumps(doc) if kind == "json" else urllib.parse.urlencode(doc)
    done = subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-c", CALLER, url, kind, body,
                           json.dumps(headers or {})], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    return answer["status"], answer["body"]


def call_local(url: str, doc: dict) -> int:
    request = urllib.request.Request(url, data=json.dumps(doc).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as r:
        return r.status



def test_protected_mode_refuses_every_callback_from_another_host(other_host, db_url, tmp_path):
    ns, _theirs, ours = other_host
    gateway = Gateway(environment(db_url), tmp_path)
    try:
        for path, doc in JSON_CALLBACKS.items():
            for headers in ({}, {"X-Forwarded-For": "127.0.0.1"}):
                status, body = call_from(ns, f"http://{ours}:{gateway.port}{path}", "json", doc, headers)
                assert status == 403 and "protected mode" in body, (path, headers, status, body)
        for path, form in FORMS.items():
            status, body = call_from(ns, f"http://{ours}:{gateway.port}{path}", "form", form,
                                     {"X-Forwarded-For": "127.0.0.1"})
            assert status == 403 and "protected mode" in body, (path, status, body)
        assert gateway.wallet_tvu() == 0
        assert json.loads(tvtopup(gateway.env, "report", "suspense", "--json").stdout) == []
        # loopback is still served: the same confirmation from here is credited
        assert call_local(f"http://127.0.0.1:{gateway.port}{MPESA}/c2b/confirmation",
                          confirmation("RKTQDM7W6S")) == 200
        assert gateway.wallet_tvu() == 500
    finally:
        gateway.stop()
    log = gateway.log_path.read_text()
    for provider in PROVIDERS:
        assert f"protected mode: {provider} callbacks are taken from loopback only" in log, provider


@pytest.mark.parametrize("setting", ["token", "allow_ips"])
def test_a_token_or_an_address_list_takes_callbacks_from_the_network(other_host, db_url, tmp_path, setting):
    ns, theirs, ours = other_host
    configured = ({"TVTOPUP_MPESA__CALLBACK_TOKEN": TOKEN} if setting == "token"
                  else {"TVTOPUP_MPESA__ALLOW_IPS": f"{theirs}/32"})
    gateway = Gateway(environment(db_url, **configured), tmp_path)
    query = f"?token={TOKEN}" if setting == "token" else ""
    try:
        status, body = call_from(ns, f"http://{ours}:{gateway.port}{MPESA}/c2b/confirmation{query}", "json",
                                 confirmation("RKTQDM7W6T"))
        assert status == 200, body
        assert gateway.wallet_tvu() == 500
        # the other providers stay protected
        status, body = call_from(ns, f"http://{ours}:{gateway.port}/mobile-money/africastalking/notification",
                                 "json", AT_NOTIFICATION)
        assert status == 403 and "protected mode" in body
    finally:
        gateway.stop()
    log = gateway.log_path.read_text()
    assert "protected mode: mpesa callbacks" not in log
    assert "protected mode: africastalking callbacks" in log
