"""A local Africa's Talking SMS API for tests, speaking its documented shapes.

    at = FakeAtSms()
    server = await aiohttp_server(at.app())      # africastalking.base_url = str(server.make_url(""))
    ...the gateway sends through the official SDK...
    at.sent                                      # the forms posted to /version1/messaging
    at.reject_next = (403, "InvalidPhoneNumber") # the next recipient's statusCode and status
    await at.post_inbound(url, "+254712345678", "BAL")       # an inbound text, as AT posts it
    await at.post_delivery(url, message_id, "Success")        # a delivery report

``POST /version1/messaging`` checks the ``apiKey`` header and the form (``username,
to, message``; ``from``, ``bulkSMSMode``, ``enqueue`` optional) and answers
``{"SMSMessageData": {"Message", "Recipients": [{"statusCode", "number", "status",
"cost", "messageId"}]}}`` with Content-Type exactly ``application/json`` (the SDK
decodes JSON only then). A wrong key gets AT's 401 text; ``delay_s`` slows the answer.
"""
from __future__ import annotations

import asyncio
import itertools
import json
import aiohttp
from aiohttp import web

API_KEY = "atsk_0123456789abcdef0123456789abcdef"
USERNAME = "tvtopup"


class FakeAtSms:
    def __init__(self, *, api_key: str = API_KEY, username: str = USERNAME) -> None:
        self.api_key, self.username = api_key, username
        self.sent: list[dict[str, str]] = []
        self.reject_next: tuple[int, str] | None = None
        self.delay_s = 0.0
        self._ids = itertools.count(1)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/version1/messaging", self._messaging)
        return app

    async def _messaging(self, request: web.Request) -> web.Response:
        if request.headers.get("apiKey") != self.api_key:
            return web.Response(status=401, text="The supplied authentication is invalid")
        form = {k: str(v) for k, v in (await request.post()).items()}
        if form.get("username") != self.username or not form.get("to") or "message" not in form:
            return web.Response(status=400, text="Request is missing required form field")
        await asyncio.sleep(self.delay_s)
        self.sent.append(form)
        code, status = self.reject_next or (101, "Success")
        self.reject_next = None
        number = form["to"].split(",")[0]
        message_id = f"ATXid_{next(self._ids):08d}a1b2c3d4" if code == 101 else "None"
        cost = "KES 0.8000" if code == 101 else "0"
        body = {"SMSMessageData": {"Message": f"Sent to {int(code == 101)}/1 Total Cost: {cost}",
                                   "Recipients": [{"statusCode": code, "number": number, "status": status,
                                                   "cost": cost, "messageId": message_id}]}}
        # exactly "application/json", as AT sends it (aiohttp's json_response adds a charset)
        return web.Response(body=json.dumps(body).encode(), headers={"Content-Type": "application/json"})

    @staticmethod
    async def post_inbound(url: str, sender: str, text: str, *, to: str = "22333", message_id: str = "",
                           omit: tuple[str, ...] = ()) -> tuple[int, str, str]:
        """POST an inbound text as AT does (less the fields in ``omit``); ``(status, content type, body)``."""
        form = {"from": sender, "to": to, "text": text, "date": "2026-11-22 12:00:00",
                "id": message_id or "a1b2c3d4-0000-4000-8000-00000000feed", "linkId": ""}
        form = {k: v for k, v in form.items() if k not in omit}
        async with aiohttp.ClientSession() as session, session.post(url, data=form) as resp:
            return resp.status, resp.content_type, await resp.text()

    @staticmethod
    async def post_delivery(url: str, message_id: str, status: str, *, failure_reason: str = "",
                            phone: str = "+254712345678") -> int:
        form = {"id": message_id, "status": status, "phoneNumber": phone, "networkCode": "63902",
                "failureReason": failure_reason, "retryCount": "0"}
        async with aiohttp.ClientSession() as session, session.post(url, data=form) as resp:
            return resp.status
