"""A fuzzing pass over every endpoint's parser: Hypothesis-made bodies against a running
``tvtopup serve``. Whatever arrives (JSON of any shape with the fields the provider would
send, garbage bytes, forms with odd values, unicode), the answer is never a 5xx, and nothing
reaches a wallet.

The database holds a package and no subscriber, so a well-formed payment can only land in
suspense; the check at the end is that no wallet account exists and no payment was credited.
(The dealer API's own schemathesis run is ``tests/integration/test_dealer_schemathesis.py``.)
"""
from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.resilience

JSON_ENDPOINTS = {
    "/mobile-money/daraja/c2b/validation": ("TransID", "TransAmount", "BillRefNumber", "MSISDN", "TransTime",
                                           "TransactionType", "BusinessShortCode", "FirstName"),
    "/mobile-money/daraja/c2b/confirmation": ("TransID", "TransAmount", "BillRefNumber", "MSISDN", "TransTime",
                                             "TransactionType", "BusinessShortCode", "OrgAccountBalance"),
    "/mobile-money/daraja/stk/callback": ("Body", "stkCallback", "CheckoutRequestID", "ResultCode"),
    "/mobile-money/mtn/callback": ("financialTransactionId", "externalId", "amount", "currency", "status"),
    "/mobile-money/airtel/callback": ("transaction", "id", "status_code", "airtel_money_id", "hash"),
    "/mobile-money/africastalking/notification": ("transactionId", "category", "status", "value", "source",
                                                  "clientAccount", "requestMetadata"),
    "/api/v1/topups": ("card", "tvu", "package", "amount"),
}
FORM_ENDPOINTS = {
    "/ussd/africastalking": ("sessionId", "serviceCode", "phoneNumber", "networkCode", "text"),
    "/sms/africastalking/inbound": ("from", "to", "text", "date", "id", "linkId"),
    "/sms/africastalking/delivery": ("id", "status", "phoneNumber", "networkCode", "failureReason", "retryCount"),
    "/admin/login": ("username", "password", "csrf"),
}

scalars = st.one_of(st.none(), st.booleans(), st.integers(min_value=-10**20, max_value=10**20),
                    st.floats(allow_nan=False), st.text(max_size=40),
                    st.sampled_from(["10000001", "254712345678", "+254712345678", "KES 100.00", "100.00", "1e9",
                                     "RKTQDM7W6S", "Success", "TS", "SUCCESSFUL", "0", "-1", "*123#", "1*2*3"]))
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
    st.text(max_size=12), inner, max_size=4), max_leaves=12)


def json_bodies(fields: tuple[str, ...]):
    shaped = st.dictionaries(st.sampled_from(fields), json_values, max_size=len(fields))
    return st.one_of(shaped.map(lambda d: json.dumps(d).encode()), json_values.map(lambda v: json.dumps(v).encode()),
                     st.binary(max_size=200))


def form_bodies(fields: tuple[str, ...]):
    shaped = st.dictionaries(st.sampled_from(fields), st.text(max_size=60), max_size=len(fields))
    return st.one_of(shaped.map(lambda d: urllib.parse.urlencode(d).encode()), st.binary(max_size=200))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fuzz")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TVTOPUP_")}
    env.update({"TVTOPUP_SERVER__PORT": str(port), "TVTOPUP_LOGGING__LEVEL": "CRITICAL",
                "TVTOPUP_DEALERS__SECRET_KEY": "fuzz-dealer-key-0123456789", "TVTOPUP_USSD__STEPS_PER_MINUTE": "100000",
                "TVTOPUP_SMS__INBOUND_PER_HOUR": "100000", "TVTOPUP_ADMIN__LOGIN_PER_MINUTE": "100000"})
    subprocess.run([sys.executable, "-m", "gateway", "package", "add", "BASIC", "--name", "Basic", "--days", "30",
                    "--tvu", "100"], cwd=tmp, env=env, check=True, capture_output=True, timeout=60)
    proc = subprocess.Popen([sys.executable, "-m", "gateway", "serve"], cwd=tmp, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(base + "/readyz", timeout=1).read()
            break
        except OSError:
            assert proc.poll() is None and time.monotonic() < deadline, "gateway did not start"
            time.sleep(0.1)
    yield base, tmp / "tvtopup.db"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert "Traceback" not in err, err[-3000:]


def post(base: str, path: str, body: bytes, content_type: str) -> int:
    request = urllib.request.Request(base + path, data=body, method="POST", headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)


@pytest.mark.parametrize("path", sorted(JSON_ENDPOINTS))
def test_json_endpoints_never_answer_5xx(gateway, path) -> None:
    base, _ = gateway

    @FUZZ
    @given(body=json_bodies(JSON_ENDPOINTS[path]))
    def run(body: bytes) -> None:
        assert post(base, path, body, "application/json") < 500

    run()


@pytest.mark.parametrize("path", sorted(FORM_ENDPOINTS))
def test_form_endpoints_never_answer_5xx(gateway, path) -> None:
    base, _ = gateway

    @FUZZ
    @given(body=form_bodies(FORM_ENDPOINTS[path]))
    def run(body: bytes) -> None:
        assert post(base, path, body, "application/x-www-form-urlencoded") < 500

    run()


def test_nothing_reached_a_wallet(gateway) -> None:
    _, db = gateway
    with sqlite3.connect(db) as conn:
        wallets = conn.execute("SELECT count(*) FROM accounts WHERE code LIKE 'wallet:%'").fetchone()[0]
        credited = conn.execute("SELECT count(*) FROM payments WHERE status = 'credited'").fetchone()[0]
    assert (wallets, credited) == (0, 0)
