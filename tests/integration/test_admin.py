"""The operator's web pages through HTTP (the real app on SQLite and PostgreSQL): login,
sessions, CSRF, roles, the actions that move value and their audit log, and the reports
page against ``tvtopup report sales --json``."""
from __future__ import annotations

import asyncio
import contextlib
import io
import json
import re

import pytest

from billing_core import admin_users, payments, reports
from billing_core import subscriptions as subs
from billing_core.db import outbox_store
from billing_core.db.payment_store import PaymentNotice
from billing_core.money import Money
from gateway.keys import BILLING

CARD, PHONE = "12345678", "0712345678"
PASSWORD = "correct horse battery"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


async def start(gateway_client, **overrides):
    client = await gateway_client(**{"currencies.UGX": 50, "admin.login_per_minute": 20, **overrides})
    billing = client.app[BILLING]
    await subs.add_package(billing, "BASIC", "Basic", 30, 150)
    await subs.add_subscriber(billing, CARD, PHONE, package="BASIC")
    for name, role in (("olga", "operator"), ("victor", "viewer"), ("ada", "admin")):
        await admin_users.add_user(billing, name, role, PASSWORD)
    return client, billing


async def login(client, name, password=PASSWORD, expect=303):
    page = await client.get("/admin/login")
    token = CSRF.search(await page.text()).group(1)
    resp = await client.post("/admin/login", data={"csrf": token, "name": name, "password": password},
                             allow_redirects=False)
    assert resp.status == expect, await resp.text()
    return resp


async def csrf_of(client, path):
    page = await client.get(path)
    assert page.status == 200, await page.text()
    return CSRF.search(await page.text()).group(1)


async def held_payment(billing, txid="TXH1", amount="KES 200"):
    return await payments.record_payment(billing, PaymentNotice("mpesa", txid, "99999999", Money.parse(amount)))


async def test_pages_need_a_live_session(gateway_client):
    client, billing = await start(gateway_client)
    await held_payment(billing)
    await every_page_needs_a_login(client, billing)
    await search_by_card_or_phone(client, billing)
    await login_sets_a_strict_httponly_cookie_and_logout_ends_the_session(client, billing)


async def test_value_moves_only_for_an_operator_with_the_forms_token_and_is_audited(gateway_client):
    client, billing = await start(gateway_client)
    await held_payment(billing)
    await viewer_and_forged_forms_move_nothing(client, billing)
    await operator_assigns_a_held_payment_and_retries_a_dead_event(client, billing)


async def every_page_needs_a_login(client, billing):
    for path in ("/admin/", "/admin/subscribers?q=1", f"/admin/subscribers/{CARD}", "/admin/suspense",
                 "/admin/events", "/admin/cards", "/admin/dealers", "/admin/reports", "/admin/audit"):
        resp = await client.get(path, allow_redirects=False)
        assert resp.status == 303 and resp.headers["Location"].startswith("/admin/login?next="), path
    resp = await client.post("/admin/suspense/assign", data={"txid": "mpesa:TXH1", "card": CARD, "csrf": "x"},
                             allow_redirects=False)
    assert resp.status == 303
    assert [p.txid for p in await payments.suspense(billing)] == ["TXH1"]
    forged = client.session.cookie_jar
    forged.update_cookies({"tvtopup_admin": "not-a-session"})
    assert (await client.get("/admin/", allow_redirects=False)).status == 303
    forged.clear()


async def test_login_refuses_a_wrong_password_and_limits_attempts(gateway_client):
    client, billing = await start(gateway_client, **{"admin.login_per_minute": 3})
    resp = await login(client, "olga", "wrong password!", expect=401)
    assert "tvtopup_admin" not in resp.cookies and "Wrong user name or password" in await resp.text()
    await login(client, "nobody", PASSWORD, expect=401)
    page = await client.get("/admin/login")  # a form without its cookie's token is refused
    client.session.cookie_jar.clear()
    resp = await client.post("/admin/login", data={"csrf": CSRF.search(await page.text()).group(1),
                                                   "name": "olga", "password": PASSWORD}, allow_redirects=False)
    assert resp.status == 403
    await login(client, "olga", expect=429)  # the fourth attempt in the minute, right password or not
    refused = await admin_users.audit_log(billing, action="login.refused")
    assert [r.actor for r in refused] == ["nobody", "olga"]
    assert PASSWORD not in json.dumps([r.details for r in refused])


async def login_sets_a_strict_httponly_cookie_and_logout_ends_the_session(client, billing):
    resp = await login(client, "victor")
    cookie = resp.cookies["tvtopup_admin"]
    assert cookie["httponly"] and cookie["samesite"] == "Strict" and cookie["path"] == "/admin"
    assert resp.headers["Location"] == "/admin/"
    page = await client.get("/admin/")
    assert page.status == 200 and "<svg" in await page.text()
    assert page.headers["Cache-Control"] == "no-store" and "frame-ancestors 'none'" in page.headers[
        "Content-Security-Policy"]
    assert (await client.get("/admin/audit")).status == 403  # viewer: not the audit log
    token = await csrf_of(client, "/admin/")
    assert (await client.post("/admin/logout", data={"csrf": token}, allow_redirects=False)).status == 303
    client.session.cookie_jar.update_cookies({"tvtopup_admin": cookie.value})  # the old token is dead
    assert (await client.get("/admin/", allow_redirects=False)).status == 303


async def viewer_and_forged_forms_move_nothing(client, billing):
    await login(client, "victor")
    token = await csrf_of(client, "/admin/suspense")
    resp = await client.post("/admin/suspense/assign", data={"csrf": token, "txid": "mpesa:TXH1", "card": CARD})
    assert resp.status == 403
    await login(client, "olga")
    for forged in ({}, {"csrf": token}, {"csrf": "0" * 64}):  # none, the viewer's session's, made up
        resp = await client.post("/admin/suspense/assign", data={**forged, "txid": "mpesa:TXH1", "card": CARD})
        assert resp.status == 403, forged
    assert [p.txid for p in await payments.suspense(billing)] == ["TXH1"]
    assert (await subs.show_subscriber(billing, CARD)).wallet_tvu == 0
    assert await admin_users.audit_log(billing, action="payment.assign") == []


async def operator_assigns_a_held_payment_and_retries_a_dead_event(client, billing):
    await login(client, "olga")
    token = await csrf_of(client, "/admin/suspense")
    resp = await client.post("/admin/suspense/assign", data={"csrf": token, "txid": "mpesa:TXH1", "card": CARD})
    assert resp.status == 200 and resp.url.path == f"/admin/subscribers/{CARD}"
    page = await resp.text()
    assert "Payment mpesa:TXH1 assigned" in page and 'id="status">active<' in page
    assert re.search(r"<td>credit</td>", page)  # the renewal it paid for
    sub = await subs.show_subscriber(billing, CARD)
    assert (sub.status, sub.wallet_tvu) == ("active", 50)
    again = await client.post("/admin/suspense/assign", data={"csrf": token, "txid": "mpesa:TXH1", "card": CARD})
    assert again.status == 409 and "not in suspense" in await again.text()

    dead = (await billing.db.read(outbox_store.list_events, card=CARD))[0]
    await billing.db.write(outbox_store.mark_failed, dead.seq, billing.now(), billing.now(), "refused", True)
    await login(client, "victor")
    viewer_token = await csrf_of(client, "/admin/events")
    assert (await client.post("/admin/events/retry", data={"csrf": viewer_token, "event": dead.event_id})).status == 403
    assert (await billing.db.read(outbox_store.find_event, dead.event_id)).status == "dead"
    await login(client, "olga")
    token = await csrf_of(client, "/admin/events?status=dead")
    resp = await client.post("/admin/events/retry", data={"csrf": token, "event": dead.event_id})
    assert resp.status == 200 and "queued again" in await resp.text()
    assert (await billing.db.read(outbox_store.find_event, dead.event_id)).status == "pending"

    trail = await admin_users.audit_log(billing)
    moved = [(r.actor, r.action, r.target) for r in trail if r.action in ("payment.assign", "event.retry")]
    assert moved == [("olga", "event.retry", dead.event_id), ("olga", "payment.assign", "mpesa:TXH1")]
    assign = next(r for r in trail if r.action == "payment.assign")
    assert assign.details == {"amount": "KES 200.00", "card": CARD, "renewed": True, "tvu": 200}
    await login(client, "ada")
    assert "payment.assign" in await (await client.get("/admin/audit")).text()


async def search_by_card_or_phone(client, billing):
    await subs.add_subscriber(billing, "87654321", PHONE, package="BASIC")
    await login(client, "victor")
    by_card = await client.get(f"/admin/subscribers?q={CARD}")
    assert by_card.url.path == f"/admin/subscribers/{CARD}"
    by_phone = await (await client.get("/admin/subscribers?q=%2B254712345678")).text()
    assert f"/admin/subscribers/{CARD}" in by_phone and "/admin/subscribers/87654321" in by_phone
    unknown = await client.get("/admin/subscribers?q=99999999")
    assert unknown.status == 404 and "no subscriber" in await unknown.text()


def cli(args, db_url):
    """``tvtopup ARGS --json`` against ``db_url``; its parsed output."""
    from gateway.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.MonkeyPatch.context() as mp:
        mp.setenv("TVTOPUP_DATABASE_URL", db_url)
        mp.setenv("TVTOPUP_CURRENCIES__UGX", "50")
        assert main([*args, "--json"]) == 0
    return json.loads(out.getvalue())


async def test_the_reports_page_shows_what_the_cli_reports(gateway_client, db_url):
    client, billing = await start(gateway_client)
    for txid, provider, amount in (("TX1", "mpesa", "KES 200"), ("TX2", "mtn", "UGX 10000"),
                                   ("TX3", "mpesa", "KES 20.50")):
        await payments.record_payment(billing, PaymentNotice(provider, txid, CARD, Money.parse(amount)))
    await login(client, "victor")
    page = await (await client.get("/admin/reports?by=channel&days=31")).text()
    shown = re.findall(r'<td>(\w+)</td><td>(\w+)</td><td class="num">(\d+)</td>\s*'
                       r'<td class="num" data-minor="(\d+)">', page)
    printed = await asyncio.to_thread(cli, ["report", "sales", "--by", "channel"], db_url)
    assert [(r["channel"], r["currency"], str(r["count"]), str(r["amount_minor"])) for r in printed] == shown == [
        ("mpesa", "KES", "2", "22050"), ("mtn", "UGX", "1", "10000")]
    assert f'<a href="/admin/subscribers/{CARD}">{CARD}</a>' in page  # expiring within 31 days
    renewals = await asyncio.to_thread(cli, ["report", "renewals"], db_url)
    assert sum(r["renewals"] for r in renewals) == 1
    direct = await reports.sales_report(billing, by=["channel"])
    assert [line.to_json() for line in direct] == printed
