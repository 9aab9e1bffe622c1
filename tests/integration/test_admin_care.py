"""Customer-care admin pages through HTTP (the real app on SQLite and PostgreSQL): edit,
suspend/resume, terminate, payment reversal, the lapsed list and the broadcast; CSRF on every
POST, roles, and the audit record naming the web user."""
from __future__ import annotations

import re

from billing_core import admin_users, payments, reports
from billing_core import subscriptions as subs
from billing_core.db.payment_store import PaymentNotice
from billing_core.money import Money
from billing_core.renewal import DAY_S
from gateway.keys import BILLING

CARD, PHONE = "12345678", "0712345678"
PASSWORD = "correct horse battery"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


async def start(gateway_client):
    client = await gateway_client(**{"admin.login_per_minute": 50})
    billing = client.app[BILLING]
    await subs.add_package(billing, "BASIC", "Basic", 30, 150, ("101",))
    await subs.add_subscriber(billing, CARD, PHONE, package="BASIC")
    for name, role in (("olga", "operator"), ("victor", "viewer"), ("ada", "admin")):
        await admin_users.add_user(billing, name, role, PASSWORD)
    return client, billing


async def login(client, name):
    client.session.cookie_jar.clear()
    page = await client.get("/admin/login")
    token = CSRF.search(await page.text()).group(1)
    resp = await client.post("/admin/login", data={"csrf": token, "name": name, "password": PASSWORD},
                             allow_redirects=False)
    assert resp.status == 303


async def post(client, path, data, *, csrf_from=f"/admin/subscribers/{CARD}/care"):
    page = await client.get(csrf_from)
    token = CSRF.search(await page.text()).group(1)
    return await client.post(path, data={"csrf": token, **data}, allow_redirects=False)


async def balanced(billing):
    totals: dict[str, int] = {}
    for line in await reports.trial_balance(billing):
        totals[line.unit] = totals.get(line.unit, 0) + line.balance
    assert all(t == 0 for t in totals.values())


async def test_operator_edits_suspends_and_resumes_and_the_viewer_cannot(gateway_client):
    client, billing = await start(gateway_client)
    await login(client, "victor")
    assert (await client.get(f"/admin/subscribers/{CARD}/care")).status == 403
    page = await client.get(f"/admin/subscribers/{CARD}")
    token = CSRF.search(await page.text()).group(1)
    resp = await client.post(f"/admin/subscribers/{CARD}/suspend", data={"csrf": token, "reason": "x"})
    assert resp.status == 403 and (await subs.show_subscriber(billing, CARD)).status == "new"

    await login(client, "olga")
    resp = await client.post(f"/admin/subscribers/{CARD}/edit", data={"csrf": "forged", "name": "Eve"})
    assert resp.status == 403 and (await subs.show_subscriber(billing, CARD)).name == ""
    resp = await post(client, f"/admin/subscribers/{CARD}/edit", {"msisdn": "0722000111", "name": "Achieng",
                                                                  "lang": "sw", "region": "Coast"})
    assert resp.status == 303 and resp.headers["Location"].endswith("/care?done=edited")
    sub = await subs.show_subscriber(billing, CARD)
    assert (sub.msisdn, sub.name, sub.lang) == ("+254722000111", "Achieng", "sw")
    bad = await post(client, f"/admin/subscribers/{CARD}/edit", {"msisdn": "12345"})
    assert bad.status == 400 and "not" in await bad.text()
    assert (await subs.show_subscriber(billing, CARD)).msisdn == "+254722000111"

    assert (await post(client, f"/admin/subscribers/{CARD}/suspend", {"reason": "fraud check"})).status == 303
    assert (await subs.show_subscriber(billing, CARD)).status == "suspended"
    assert (await post(client, f"/admin/subscribers/{CARD}/resume", {})).status == 303
    assert (await subs.show_subscriber(billing, CARD)).status == "new"
    assert (await post(client, f"/admin/subscribers/{CARD}/terminate", {"reason": "x"})).status == 403
    [record] = await admin_users.audit_log(billing, action="subscriber.suspend")
    assert (record.actor, record.details["why"]) == ("admin:olga", "fraud check") and record.ip


async def test_admin_reverses_a_payment_and_the_operator_cannot(gateway_client):
    client, billing = await start(gateway_client)
    await payments.record_payment(billing, PaymentNotice("mpesa", "QAB1234567", CARD, Money(20000, "KES")))
    await login(client, "olga")
    assert (await post(client, f"/admin/subscribers/{CARD}/reverse",
                       {"txid": "mpesa:QAB1234567", "reason": "x"})).status == 403

    await login(client, "ada")
    page = await (await client.get(f"/admin/subscribers/{CARD}/care")).text()
    assert 'action="/admin/subscribers/12345678/reverse"' in page
    resp = await post(client, f"/admin/subscribers/{CARD}/reverse", {"txid": "mpesa:QAB1234567",
                                                                     "reason": "M-Pesa reversal"})
    assert resp.status == 303
    sub = await subs.show_subscriber(billing, CARD)
    assert (sub.wallet_tvu, sub.status) == (0, "new")
    await balanced(billing)
    again = await post(client, f"/admin/subscribers/{CARD}/reverse", {"txid": "mpesa:QAB1234567",
                                                                      "reason": "again"})
    assert again.status == 409 and "already" in await again.text()
    await balanced(billing)


async def test_lapsed_list_and_broadcast(gateway_client, clock):
    client, billing = await start(gateway_client)
    await payments.record_payment(billing, PaymentNotice("mpesa", "QAB1234567", CARD, Money(15000, "KES")))
    clock.advance(33 * DAY_S)
    await login(client, "victor")
    page = await client.get("/admin/lapsed?days=30")
    assert page.status == 200 and CARD in await page.text() and "KES 150.00" in await page.text()
    assert (await client.get("/admin/lapsed?days=x")).status == 400
    assert (await client.get("/admin/notify")).status == 403

    await login(client, "olga")
    dry = await post(client, "/admin/notify", {"target": "all", "channel": "osd", "text": "Outage tonight",
                                               "mode": "count"}, csrf_from="/admin/notify")
    assert dry.status == 200 and "1 recipients; nothing sent." in await dry.text()
    sent = await post(client, "/admin/notify", {"target": "card", "value": CARD, "channel": "sms",
                                                "text": "Hello", "mode": "send"}, csrf_from="/admin/notify")
    assert sent.status == 200 and "1 messages queued" in await sent.text()
    bad = await post(client, "/admin/notify", {"target": "card", "value": "19999999", "channel": "sms",
                                               "text": "Hello", "mode": "send"}, csrf_from="/admin/notify")
    assert bad.status == 404
    assert [r.details["recipients"] for r in await admin_users.audit_log(billing, action="notify.send")] == [1]
