"""A local stand-in for Safaricom Daraja, speaking its documented formats.

Serve ``FakeDaraja().app`` (``aiohttp_server``); point ``mpesa.base_url`` at it.

- ``GET /oauth/v1/generate?grant_type=client_credentials`` checks HTTP Basic auth and
  answers ``{"access_token", "expires_in": "3599"}``; ``token_requests`` counts the calls.
- ``POST /mpesa/stkpush/v1/processrequest`` checks the Bearer token (``401`` with
  ``404.001.03 Invalid Access Token`` otherwise), every field and the Password formula,
  and answers ``{"MerchantRequestID", "CheckoutRequestID", "ResponseCode": "0", …}``.
  ``fail_next(status, code, message)`` makes the next push answer Daraja's error shape;
  ``delay_s`` takes the push but answers late; ``revoke_tokens()`` forgets the tokens handed
  out; ``refuse_tokens`` refuses every token.
- ``send_result(checkout_id, gateway_url, result_code=…)`` posts ``Body.stkCallback`` to the
  CallBackURL the push named, on ``gateway_url``'s host, as Safaricom would.
- ``POST /mpesa/stkpushquery/v1/query`` (M-Pesa Express Query) checks the token, short code
  and Password, and answers from ``finish(checkout_id, result_code)``: until then HTTP 500
  ``500.001.1001 The transaction is being processed`` (safaricom/LNMOnlineAndroidSample
  issue 13), then the documented ``{ResponseCode, ResponseDescription, MerchantRequestID,
  CheckoutRequestID, ResultCode, ResultDesc}`` with ResultCode as a string; an unknown
  CheckoutRequestID gets ``400.002.02 Bad Request - Invalid CheckoutRequestID``.
  ``queries`` counts the calls.
- ``POST /mpesa/c2b/v2/registerurl`` (Customer To Business Register URL) checks the token,
  ShortCode, ResponseType (sentence case) and both URLs (HTTPS, none of the refused words),
  answers ``{"OriginatorCoversationID", "ResponseCode": "0", "ResponseDescription": "success"}``
  and keeps them in ``registered``; with ``production=True`` a second registration gets
  ``500.003.1001 Urls are already registered.`` (the page's error table).

Sources: developer.safaricom.co.ke pages "M-Pesa Express Simulate", "M-Pesa Express Query",
"Customer To Business Register URL", "Customer To Business" (as scraped in
JacksCodeVault/mpesa-daraja-mcp, daraja_docs_v3/docs/*.md); tests/provider_fixtures/daraja/SOURCES.md.
"""
from __future__ import annotations

import asyncio
import base64
import itertools
import re
from datetime import datetime, timedelta, timezone
from typing import Any

import aiohttp
from aiohttp import web
from yarl import URL

NAIROBI = timezone(timedelta(hours=3))
RESULT_DESCS = {
    0: "The service request is processed successfully.",
    1: "The balance is insufficient for the transaction.",
    1032: "Request cancelled by user",
    1037: "DS timeout user cannot be reached",
}
# Customer To Business Register URL, "URL Requirements" (any case, any variant)
REFUSED_WORDS = ("mpesa", "m-pesa", "safaricom", "exe", "exec", "cmd", "sql", "query")
LOCKED = "Unable to lock subscriber, a transaction is already in process for the current subscriber"
SANDBOX_PASSKEY = "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919"  # Daraja's public one
_PHONE = re.compile(r"254[0-9]{9}")


class FakeDaraja:
    def __init__(self, *, consumer_key: str = "ck-test", consumer_secret: str = "cs-test",
                 shortcode: str = "174379", passkey: str = SANDBOX_PASSKEY, expires_in_s: int = 3599):
        self.consumer_key, self.consumer_secret = consumer_key, consumer_secret
        self.shortcode, self.passkey, self.expires_in_s = shortcode, passkey, expires_in_s
        self.token_requests = 0
        self.push_requests = 0
        self.pushes: dict[str, dict[str, Any]] = {}  # CheckoutRequestID -> accepted body
        self.delay_s = 0.0
        self.refuse_tokens = False  # every push answers 401, as if each token had just expired
        self.base_url = ""  # set by whoever serves ``app``
        self._tokens: set[str] = set()
        self._failures: list[tuple[int, dict[str, Any]]] = []
        self._ids = itertools.count(1)
        self._release = asyncio.Event()
        self.app = web.Application()
        self.app.router.add_get("/oauth/v1/generate", self._token)
        self.app.router.add_post("/mpesa/stkpush/v1/processrequest", self._push)
        self.app.router.add_post("/mpesa/stkpushquery/v1/query", self._query)
        self.app.router.add_post("/mpesa/c2b/v2/registerurl", self._register)
        self.results: dict[str, int] = {}  # CheckoutRequestID -> final ResultCode (absent: processing)
        self.queries = 0
        self.registered: list[dict[str, Any]] = []
        self.production = False
        self.app.on_shutdown.append(self._stop_waiting)

    def revoke_tokens(self) -> None:
        self._tokens.clear()

    def fail_next(self, status: int = 500, code: str = "500.001.1001", message: str = LOCKED) -> None:
        """The next push fails with Daraja's error shape (``code`` "": a bare proxy error page)."""
        self._failures.append((status, {"requestId": f"fake-{next(self._ids)}", "errorCode": code,
                                        "errorMessage": message} if code else {}))

    async def _stop_waiting(self, _app: web.Application) -> None:
        self._release.set()

    # ---- OAuth ------------------------------------------------------------------------------

    async def _token(self, request: web.Request) -> web.Response:
        self.token_requests += 1
        if request.query.get("grant_type") != "client_credentials":
            return self._error(400, "400.008.02", "Invalid grant type passed")
        expected = base64.b64encode(f"{self.consumer_key}:{self.consumer_secret}".encode()).decode()
        if request.headers.get("Authorization", "") != f"Basic {expected}":
            return self._error(400, "400.008.01", "Invalid Authentication passed")
        token = f"fake-token-{next(self._ids)}"
        self._tokens.add(token)
        return web.json_response({"access_token": token, "expires_in": str(self.expires_in_s)})

    # ---- STK push ------------------------------------------------------------------------------

    async def _push(self, request: web.Request) -> web.Response:
        self.push_requests += 1
        bearer = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if bearer not in self._tokens or self.refuse_tokens:
            return self._error(401, "404.001.03", "Invalid Access Token")
        if self._failures:
            status, failure = self._failures.pop(0)
            if not failure:
                return web.Response(status=status, text="<html>Service Unavailable</html>", content_type="text/html")
            return web.json_response(failure, status=status)
        body = await request.json()
        problem = self._problem(body)
        if problem:
            code, message = problem
            return self._error(400 if code.startswith("400") else 500, code, message)
        n = next(self._ids)
        checkout = f"ws_CO_{n:06d}191220191020363925"
        self.pushes[checkout] = body  # taken: the phone is asked, even if our answer comes late
        if self.delay_s:
            try:
                await asyncio.wait_for(self._release.wait(), self.delay_s)
            except TimeoutError:
                pass
        message = "Success. Request accepted for processing"
        return web.json_response({"MerchantRequestID": f"29115-{n}-1", "CheckoutRequestID": checkout,
                                  "ResponseCode": "0", "ResponseDescription": message, "CustomerMessage": message})

    def _problem(self, body: dict[str, Any]) -> tuple[str, str] | None:
        """Daraja's refusal of a push body, or None."""
        stamp = str(body.get("Timestamp", ""))
        expected = base64.b64encode(f"{self.shortcode}{self.passkey}{stamp}".encode()).decode()
        checks = [
            ("BusinessShortCode", str(body.get("BusinessShortCode")) == self.shortcode),
            ("Timestamp", re.fullmatch(r"[0-9]{14}", stamp) is not None),
            ("TransactionType", body.get("TransactionType") == "CustomerPayBillOnline"),
            ("Amount", type(body.get("Amount")) is int and body["Amount"] >= 1),
            ("PartyA", _PHONE.fullmatch(str(body.get("PartyA", ""))) is not None),
            ("PartyB", str(body.get("PartyB")) == self.shortcode),
            ("PhoneNumber", body.get("PhoneNumber") == body.get("PartyA")),
            ("CallBackURL", str(body.get("CallBackURL", "")).startswith("https://")),
            ("AccountReference", 1 <= len(str(body.get("AccountReference", ""))) <= 12),
            ("TransactionDesc", 1 <= len(str(body.get("TransactionDesc", ""))) <= 13),
        ]
        for name, ok in checks:
            if not ok:
                return "400.002.02", f"Bad Request - Invalid {name}"
        if body.get("Password") != expected:
            return "500.001.1001", "Wrong credentials"
        return None

    @staticmethod
    def _error(status: int, code: str, message: str) -> web.Response:
        return web.json_response({"requestId": "fake-0", "errorCode": code, "errorMessage": message}, status=status)

    # ---- STK query ------------------------------------------------------------------------------

    def finish(self, checkout_id: str, result_code: int = 0) -> None:
        """The push's outcome as the query will report it (the callback is sent separately)."""
        self.results[checkout_id] = result_code

    async def _query(self, request: web.Request) -> web.Response:
        self.queries += 1
        bearer = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if bearer not in self._tokens or self.refuse_tokens:
            return self._error(401, "404.001.03", "Invalid Access Token")
        body = await request.json()
        stamp = str(body.get("Timestamp", ""))
        expected = base64.b64encode(f"{self.shortcode}{self.passkey}{stamp}".encode()).decode()
        if str(body.get("BusinessShortCode")) != self.shortcode:
            return self._error(400, "400.002.02", "Bad Request - Invalid BusinessShortCode")
        if body.get("Password") != expected:
            return self._error(500, "500.001.1001", "Wrong credentials")
        checkout = body.get("CheckoutRequestID")
        if checkout not in self.pushes:
            return self._error(400, "400.002.02", "Bad Request - Invalid CheckoutRequestID")
        if checkout not in self.results:
            return self._error(500, "500.001.1001", "The transaction is being processed")
        code = self.results[checkout]
        return web.json_response({"ResponseCode": "0",
                                  "ResponseDescription": "The service request has been accepted successsfully",
                                  "MerchantRequestID": "22205-34066-1", "CheckoutRequestID": checkout,
                                  "ResultCode": str(code), "ResultDesc": RESULT_DESCS.get(code, "Failed")})

    # ---- C2B URL registration -------------------------------------------------------------------

    async def _register(self, request: web.Request) -> web.Response:
        bearer = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if bearer not in self._tokens or self.refuse_tokens:
            return self._error(401, "404.001.03", "Invalid Access Token")
        body = await request.json()
        if str(body.get("ShortCode")) != self.shortcode:
            return self._error(400, "400.003.02", "Bad Request - Invalid ShortCode")
        if body.get("ResponseType") not in ("Completed", "Cancelled"):
            return self._error(400, "400.003.02", "Bad Request - Invalid ResponseType")
        for name in ("ConfirmationURL", "ValidationURL"):
            url = str(body.get(name, ""))
            if not url.startswith(("https://", "http://127.0.0.1")) or any(w in url.lower() for w in REFUSED_WORDS):
                return self._error(400, "400.003.02", f"Bad Request - Invalid {name}")
        if self.production and self.registered:
            return self._error(500, "500.003.1001", "Urls are already registered.")
        self.registered.append(body)
        return web.json_response({"OriginatorCoversationID": f"7619-{next(self._ids)}-1", "ResponseCode": "0",
                                  "ResponseDescription": "success"})

    # ---- the result callback, as Safaricom posts it ------------------------------------------

    def callback_body(self, checkout_id: str, result_code: int = 0, *, receipt: str = "NLJ7RT61SV",
                      paid_at: datetime | None = None) -> dict[str, Any]:
        push = self.pushes[checkout_id]
        callback: dict[str, Any] = {"MerchantRequestID": "29115-34620561-1", "CheckoutRequestID": checkout_id,
                                    "ResultCode": result_code, "ResultDesc": RESULT_DESCS.get(result_code, "Failed")}
        if result_code == 0:
            stamp = (paid_at or datetime.now(NAIROBI)).strftime("%Y%m%d%H%M%S")
            callback["CallbackMetadata"] = {"Item": [
                {"Name": "Amount", "Value": push["Amount"]},
                {"Name": "MpesaReceiptNumber", "Value": receipt},
                {"Name": "Balance"},
                {"Name": "TransactionDate", "Value": int(stamp)},
                {"Name": "PhoneNumber", "Value": int(push["PhoneNumber"])},
            ]}
        return {"Body": {"stkCallback": callback}}

    async def send_result(self, checkout_id: str, gateway_url: URL | str, result_code: int = 0, *,
                          receipt: str = "NLJ7RT61SV") -> tuple[int, Any]:
        """POST the push's result to its CallBackURL, re-aimed at ``gateway_url``'s host."""
        named = URL(self.pushes[checkout_id]["CallBackURL"])
        target = URL(str(gateway_url)).join(URL.build(path=named.path, query=named.query))
        body = self.callback_body(checkout_id, result_code, receipt=receipt)
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
            async with session.post(target, json=body) as resp:
                return resp.status, await resp.json()
