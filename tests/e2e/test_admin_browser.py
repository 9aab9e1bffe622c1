"""An operator in a real browser: Debian's headless Chromium driven by Playwright against the
gateway on a real port. Logs in, reads today's sales chart, finds a subscriber by phone,
assigns a payment held in suspense and sees the renewal it paid for.

The dashboard's screenshot is kept in ``test-artifacts/admin-dashboard.png`` (git-ignored).
Playwright's own browser download is not used: ``/usr/bin/chromium`` (``apt-get install
chromium``; ``.ci/run`` installs it when absent).
"""
from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
from aiohttp import web

from billing_core import admin_users, payments
from billing_core import subscriptions as subs
from billing_core.db.migrate import upgrade
from billing_core.db.payment_store import PaymentNotice
from billing_core.money import Money
from gateway.app import create_app
from gateway.keys import BILLING

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CARD, PHONE, PASSWORD = "12345678", "+254712345678", "a long operator password"

playwright_api = pytest.importorskip("playwright.async_api")
pytestmark = pytest.mark.skipif(not os.access(CHROMIUM, os.X_OK), reason="needs Debian's chromium")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
async def gateway(tmp_path):
    """The gateway on 127.0.0.1:PORT (SQLite), with a package, a paying subscriber, a payment
    held for a mistyped card and an operator user; yields the base URL and the billing context."""
    from config.settings import load_settings

    url = f"sqlite+aiosqlite:///{tmp_path / 'tvtopup.db'}"
    await upgrade(url)
    settings = load_settings(environ={}).replace(**{"database.url": url, "currencies.UGX": 50})
    runner = web.AppRunner(create_app(settings, workers=False))
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    billing = runner.app[BILLING]
    await subs.add_package(billing, "BASIC", "Basic bouquet", 30, 150)
    await subs.add_subscriber(billing, CARD, PHONE, package="BASIC", name="Amina")
    for provider, txid, amount in (("mpesa", "RKTQDM7W6S", "KES 120"), ("mtn", "MTN0001", "UGX 500"),
                                   ("cash", "R-0001", "KES 10")):  # 140 TVU: not yet the package's 150
        await payments.record_payment(billing, PaymentNotice(provider, txid, CARD, Money.parse(amount)))
    await payments.record_payment(billing, PaymentNotice("mpesa", "RKTQDM7W7T", "1234567", Money.parse("KES 300")))
    await admin_users.add_user(billing, "olga", "operator", PASSWORD)
    try:
        yield f"http://127.0.0.1:{port}", billing
    finally:
        await runner.cleanup()


def browser_env(home: Path) -> dict[str, str]:
    """Chromium's environment: its home, config and cache (crash reports, dconf) in ``home``,
    so that the suite writes nothing outside the checkout and the temp directory."""
    return {**os.environ, "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"),
            "XDG_CACHE_HOME": str(home / ".cache")}


async def test_an_operator_works_in_a_browser(gateway, tmp_path):
    base, billing = gateway
    async with playwright_api.async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS, timeout=30_000,
                                          env=browser_env(tmp_path / "home"))
        try:
            page = await browser.new_page(viewport={"width": 1280, "height": 1600})
            page.set_default_timeout(10_000)
            await log_in(page, base)
            await sees_todays_sales_chart(page)
            await finds_the_subscriber_by_phone(page)
            await assigns_the_held_payment_and_sees_the_renewal(page, base)
            await the_dashboard_counts_the_renewal(page, base)
        finally:
            await browser.close()
    sub = await subs.show_subscriber(billing, CARD)
    assert (sub.status, sub.wallet_tvu) == ("active", 290)  # 120 + 10 + 10 + 300 - 150
    trail = await admin_users.audit_log(billing, action="payment.assign")
    assert [(r.actor, r.target) for r in trail] == [("olga", "mpesa:RKTQDM7W7T")]


async def log_in(page, base):
    await page.goto(f"{base}/admin/")
    assert "/admin/login" in page.url  # no page without a login
    await page.fill("input[name=name]", "olga")
    await page.fill("input[name=password]", "not the password")
    await page.click("button[type=submit]")
    assert "Wrong user name or password" in await page.inner_text("p.error")
    await page.fill("input[name=name]", "olga")
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{base}/admin/")
    assert await page.inner_text("h1") == "Dashboard"


async def sees_todays_sales_chart(page):
    today = await page.inner_text("#today-totals tbody")
    assert "KES 130.00" in today and "UGX 500" in today
    kes = page.locator('#revenue figure[data-currency="KES"] svg rect.bar')
    values = {(await bar.get_attribute("data-series"), await bar.get_attribute("data-value"))
              for bar in await kes.all() if await bar.get_attribute("data-value") != "0"}
    assert values == {("mpesa", "12000"), ("cash", "1000")}
    box = await page.locator('#revenue figure[data-currency="KES"] rect.bar[data-series="mpesa"][data-value="12000"]'
                             ).bounding_box()
    assert box and box["height"] > 10  # drawn, not just present
    assert await page.locator("#renewals svg rect.bar[data-series='renewals'][data-value='1']").count() == 0


async def finds_the_subscriber_by_phone(page):
    await page.fill("header input[name=q]", "0712345678")
    await page.press("header input[name=q]", "Enter")
    await page.wait_for_url(f"**/admin/subscribers/{CARD}")
    assert await page.inner_text("#status") == "new"
    assert await page.inner_text("#wallet") == "140 TVU"
    assert "RKTQDM7W6S" in await page.inner_text("#payments")


async def assigns_the_held_payment_and_sees_the_renewal(page, base):
    await page.click("nav >> text=Suspense")
    row = page.locator('tr[data-txid="mpesa:RKTQDM7W7T"]')
    assert "KES 300.00" in await row.inner_text()
    await row.locator("input[name=card]").fill(CARD)
    await row.locator("button[type=submit]").click()
    await page.wait_for_url(f"**/admin/subscribers/{CARD}?assigned=*")
    assert "Payment mpesa:RKTQDM7W7T assigned" in await page.inner_text("p.ok")
    assert await page.inner_text("#status") == "active"
    assert await page.inner_text("#wallet") == "290 TVU"
    renewal = await page.inner_text("#renewals tbody tr:first-child")
    assert "BASIC" in renewal and "credit" in renewal and "150" in renewal
    await page.goto(f"{base}/admin/suspense")
    assert "Nothing held." in await page.inner_text("#suspense")


async def the_dashboard_counts_the_renewal(page, base):
    await page.click("nav >> text=Dashboard")
    assert await page.locator("#renewals svg rect.bar[data-series='renewals'][data-value='1']").count() == 1
    bars = page.locator('#revenue figure[data-currency="KES"] rect.bar[data-series="mpesa"]')
    assert "42000" in [await b.get_attribute("data-value") for b in await bars.all()]  # 120 + 300 today
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "admin-dashboard.png"
    await page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    print(f"dashboard screenshot: {shot}")


async def test_an_operator_does_customer_care_in_a_browser(gateway):
    base, billing = gateway
    async with playwright_api.async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS, timeout=30_000)
        try:
            page = await browser.new_page(viewport={"width": 1280, "height": 1600})
            page.set_default_timeout(10_000)
            await log_in(page, base)
            await page.goto(f"{base}/admin/subscribers/{CARD}")
            await page.click("#care-link")
            await page.wait_for_url(f"**/admin/subscribers/{CARD}/care")
            await page.fill("#edit input[name=name]", "Amina Wanjiru")
            await page.fill("#edit input[name=region]", "Coast")
            await page.click("#edit button[type=submit]")
            await page.wait_for_url("**/care?done=edited")
            assert "Details saved." in await page.inner_text("p.ok")
            await page.fill("#suspend input[name=reason]", "fraud check")
            await page.click("#suspend button[type=submit]")
            await page.wait_for_url("**/care?done=suspended")
            assert await page.inner_text("#status") == "suspended"
            assert await page.locator("#payments form").count() == 0  # an operator reverses nothing
            await page.click("#resume button[type=submit]")
            await page.wait_for_url("**/care?done=resumed")
            assert await page.inner_text("#status") == "new"
            await page.click("nav >> text=Lapsed")
            assert "none" in await page.inner_text("#lapsed")
            await page.click("nav >> text=Broadcast")
            await page.select_option("#notify select[name=target]", "region")
            await page.fill("#notify input[name=value]", "Coast")
            await page.fill("#notify textarea[name=text]", "Outage tonight 22:00-23:00")
            await page.click("#notify button[value=count]")
            assert "1 recipients; nothing sent." in await page.inner_text("#result")
        finally:
            await browser.close()
    sub = await subs.show_subscriber(billing, CARD)
    assert (sub.name, sub.status) == ("Amina Wanjiru", "new")
    trail = await admin_users.audit_log(billing)
    assert {"subscriber.edit", "subscriber.suspend", "subscriber.resume"} <= {r.action for r in trail}
