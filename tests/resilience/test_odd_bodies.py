"""Odd bodies on every route that reads one, against a running ``tvtopup serve``: an unknown
``charset`` in ``Content-Type`` and JSON nested thousands deep are answered 400 with a reason,
never a 5xx, and change nothing. (The Hypothesis pass beside this file covers random bodies.)"""
from __future__ import annotations

import json
import sqlite3
import urllib.error
import urllib.request

import pytest

from tests.resilience.test_fuzz_endpoints import FORM_ENDPOINTS, JSON_ENDPOINTS, gateway  # noqa: F401 (fixture)

pytestmark = pytest.mark.resilience
ROUTES = sorted(JSON_ENDPOINTS) + sorted(FORM_ENDPOINTS)
DEEP = b"[" * 5000 + b"]" * 5000
DEEP_OBJECT = b'{"a":' * 3000 + b"1" + b"}" * 3000


def call(base: str, path: str, body: bytes, content_type: str, method: str = "POST") -> tuple[int, dict]:
    request = urllib.request.Request(base + path, data=body, method=method, headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, {"text": raw.decode("utf-8", "replace")}


def stored(db) -> tuple[int, int, int]:
    with sqlite3.connect(db) as conn:
        return tuple(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
                     for table in ("payments", "journal_entries", "sms_messages"))


@pytest.mark.parametrize("path", ROUTES)
@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded; charset=x-no-such-charset",
                                          "application/json; charset=klingon", "text/plain; charset=utf-99"])
def test_an_unknown_charset_is_a_400_with_its_reason(gateway, path, content_type):  # noqa: F811
    base, db = gateway
    before = stored(db)
    status, answer = call(base, path, b"sessionId=1&phoneNumber=%2B254712345678&text=", content_type)
    assert status == 400, (status, answer)
    assert "unknown charset" in answer.get("detail", ""), answer
    assert stored(db) == before


@pytest.mark.parametrize("path", ROUTES)
@pytest.mark.parametrize("body", [DEEP, DEEP_OBJECT], ids=["array", "object"])
def test_deeply_nested_json_is_a_400_with_its_reason(gateway, path, body):  # noqa: F811
    base, db = gateway
    before = stored(db)
    status, answer = call(base, path, body, "application/json")
    assert status == 400, (status, answer)
    assert "nested" in answer.get("detail", ""), answer
    assert stored(db) == before


def test_momo_callback_by_put_too(gateway):  # noqa: F811
    base, _ = gateway
    assert call(base, "/mobile-money/mtn/callback", DEEP, "application/json", method="PUT")[0] == 400
    assert call(base, "/mobile-money/mtn/callback", b"{}", "application/json; charset=nope", method="PUT")[0] == 400
