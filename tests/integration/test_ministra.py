"""The Ministra adapter against a local Stalker REST API v1 (tests/peers/fake_stalker.py), on SQLite and
PostgreSQL: identifiers as Stalker resolves them, ``results`` and ``error`` as it answers, a
subscriber with a tariff plan and optional packages, and deliveries repeated."""
from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from billing_core import addons, ledger, notifications, ppv, subscriptions
from billing_core.db import outbox_store
from config.settings import load_settings
from tests.peers.fake_stalker import API, FakeStalker
from tv_notify import events
from tv_notify.adapters.base import DeliveryError
from tv_notify.adapters.ministra import answer
from tv_notify.dispatcher import Dispatcher

CARD = "10000001"
LONG_CARD = "100000000001"  # 12 digits: card_max_length's default
MAC = "00:1A:79:00:00:01"
PHONE = "+254712345678"
NAIROBI = ZoneInfo("Africa/Nairobi")
HOUR = 3600
FIXTURES = Path(__file__).parents[1] / "provider_fixtures" / "ministra"


def stalker() -> FakeStalker:
    """A portal set up as the operator's docs say: plan ``basic`` (external id = the BASIC
    package's first product) with the add-on ``sports`` and the pay-per-view ``900`` optional."""
    fake = FakeStalker(username="billing", password="ministra-pw")
    fake.add_plan("basic", mandatory=("basic-tv",), optional=("sports", "900"), default=True)
    fake.add_plan("gold", mandatory=("basic-tv", "gold-tv"), optional=("sports", "900"))
    return fake


async def ministra(billing, aiohttp_server, fake: FakeStalker | None = None, *,
                   password: str = "ministra-pw") -> tuple[FakeStalker, Dispatcher]:
    fake = fake or stalker()
    server = await aiohttp_server(fake.app)
    settings = load_settings(environ={}).replace(**{
        "tv.adapter": "ministra", "tv.url": str(server.make_url(API)),
        "tv.username": "billing", "tv.secret": password, "tv.timeout_s": 2.0, "tv.retries_max": 3})
    return fake, Dispatcher.from_settings(settings, billing.db, billing.clock)


async def drain(d: Dispatcher, clock, rounds: int = 20) -> None:
    for _ in range(rounds):
        await d.run_once()
        if not (await d._db.read(outbox_store.counts)).get("pending"):
            return
        clock.advance(60)


async def subscribed(billing, card: str, products: tuple[str, ...] = ("gold", "extra"), wallet: int = 150):
    if not await subscriptions.list_packages(billing):
        await subscriptions.add_package(billing, "BASIC", "Basic", 30, 150, products)
    await subscriptions.add_subscriber(billing, card, PHONE, package="BASIC", lang="fr")
    return await subscriptions.credit_tvu(billing, card, wallet, source=ledger.TVU_OPENING, ref=f"o{card}",
                                          kind="opening")


async def test_grant_osd_and_revoke_become_account_updates_and_a_message(billing, clock, aiohttp_server):
    fake = stalker()
    fake.add_account(CARD, plan="basic", status=0)
    fake.refuse["accounts"] = 1  # the first call answers status ERROR
    credited = await subscribed(billing, CARD)
    fake, d = await ministra(billing, aiohttp_server, fake)

    await drain(d, clock)
    end = datetime.fromtimestamp(credited.subscriber.expires_at, NAIROBI).strftime("%Y-%m-%d %H:%M:%S")
    account = fake.account(CARD)
    assert (account["status"], account["tariff_plan"], account["end_date"]) == (1, "gold", end)
    [msg] = fake.messages(CARD)
    assert "actif jusqu'au" in msg
    assert d.failed == 1 and fake.bad_auth == 0  # an ERROR reply is a failed delivery, retried

    clock.advance(31 * 86_400)
    assert await notifications.sweep_expiry(billing) == {"renewed": 0, "expired": 1}
    await drain(d, clock)
    assert fake.account(CARD)["status"] == 0
    assert len(fake.messages(CARD)) == 2 and "a expire" in fake.messages(CARD)[1]
    assert (await billing.db.read(outbox_store.counts)) == {"delivered": 6}  # with the SMS, to the log
    await d.close()


async def test_a_twelve_digit_card_gets_its_messages_through_its_box(billing, clock, aiohttp_server):
    """Stalker reads a send_event identifier of 12+ characters as a MAC: address the box."""
    fake = stalker()
    fake.add_account(LONG_CARD, plan="basic", mac=MAC, status=0)
    await subscribed(billing, LONG_CARD)
    fake, d = await ministra(billing, aiohttp_server, fake)

    await drain(d, clock)
    assert fake.account(LONG_CARD)["status"] == 1
    [msg] = fake.messages(LONG_CARD)
    assert "actif jusqu'au" in msg
    assert (await billing.db.read(outbox_store.counts)) == {"delivered": 3} and d.failed == 0
    assert ("POST", f"{API}send_event/{MAC}") in [(m, p) for m, p, _ in fake.received]
    await d.close()


async def test_a_twelve_digit_card_without_a_box_is_dead_at_once_with_the_reason(billing, clock, aiohttp_server):
    fake = stalker()
    fake.add_account(LONG_CARD, plan="basic", status=1)
    fake, d = await ministra(billing, aiohttp_server, fake)
    await billing.db.write(outbox_store.enqueue, [events.osd(LONG_CARD, "hello", "en")], clock.now)

    await drain(d, clock)
    [dead] = await billing.db.read(outbox_store.list_events, status="dead")
    assert "no STB bound" in dead.last_error and d.failed == 1
    await d.close()


async def test_an_unknown_tariff_is_refused_not_made_the_default_plan(billing, clock, aiohttp_server):
    fake = stalker()
    fake.add_account(CARD, plan="gold", status=1)
    await subscribed(billing, CARD, products=("platinum",))
    fake, d = await ministra(billing, aiohttp_server, fake)

    await drain(d, clock)
    [dead] = await billing.db.read(outbox_store.list_events, status="dead")
    assert dead.kind == events.GRANT and "'platinum'" in dead.last_error
    assert fake.account(CARD)["tariff_plan"] == "gold"  # untouched, not the default plan
    assert not [p for m, p, _ in fake.received if m == "PUT" and p.startswith(API + "accounts")]
    await d.close()


async def test_a_refusal_in_results_is_a_failed_delivery_and_retried(billing, clock, aiohttp_server):
    """``results: false``: the account's plan (gold has no ``news`` optional package) refuses the add-on."""
    fake = stalker()
    fake.add_plan("news-plan", optional=("news",))  # news exists, but not in the account's plan
    fake.add_account(CARD, plan="gold", status=1)
    fake, d = await ministra(billing, aiohttp_server, fake)
    await billing.db.write(outbox_store.enqueue, [events.grant(CARD, ("news",), clock.now + 86_400, "en")],
                           clock.now)

    await drain(d, clock)
    [dead] = await billing.db.read(outbox_store.list_events, status="dead")
    assert "results is false" in dead.last_error and d.failed == 4  # retries_max 3: four attempts
    assert fake.account(CARD)["subscribed"] == []
    await d.close()


async def test_add_on_and_pay_per_view_never_switch_off_a_paid_base(billing, clock, aiohttp_server):
    fake = stalker()
    fake.add_account(CARD, plan="basic", status=0)
    await subscriptions.add_package(billing, "BASIC", "Basic", 30, 150, ("gold",))
    await subscriptions.add_package(billing, "SPORTS", "Sports", 30, 90, ("sports",), kind="addon")
    await subscriptions.add_subscriber(billing, CARD, PHONE, package="BASIC", lang="en")
    await subscriptions.credit_tvu(billing, CARD, 150 + 90 + 40, source=ledger.TVU_OPENING, ref="o", kind="opening")
    await addons.add_addon(billing, CARD, "SPORTS", aligned=False)
    now = billing.now()
    await ppv.add_event(billing, "DERBY", "Derby", now + HOUR, now + 3 * HOUR, 40, "900")
    await ppv.buy_event(billing, CARD, "DERBY", channel="cli")
    fake, d = await ministra(billing, aiohttp_server, fake)

    await drain(d, clock)
    account = fake.account(CARD)
    assert (account["status"], account["tariff_plan"], sorted(account["subscribed"])) == (1, "gold", ["900", "sports"])

    clock.advance(4 * HOUR)  # the event is over: its package goes, the base and the add-on stay
    assert (await notifications.end_ppv_and_addons(billing))["ppv_revoked"] == 1
    await drain(d, clock)
    account = fake.account(CARD)
    assert (account["status"], account["tariff_plan"], account["subscribed"]) == (1, "gold", ["sports"])

    clock.advance(31 * 86_400)  # the base expires first (the add-on was bought later): still on
    assert (await notifications.sweep_expiry(billing))["expired"] == 1
    await drain(d, clock)
    revoke = next(e for e in await billing.db.read(outbox_store.for_card, CARD, 50)
                  if e.kind == events.REVOKE and e.payload["products"] == ["gold"])
    assert revoke.payload["paid"] == ["sports"]
    assert fake.account(CARD)["status"] == 1

    clock.advance(HOUR)
    assert (await notifications.end_ppv_and_addons(billing))["addons_expired"] == 1
    await drain(d, clock)
    account = fake.account(CARD)
    assert (account["status"], account["subscribed"]) == (0, [])  # nothing paid remains
    assert (await billing.db.read(outbox_store.counts)).keys() == {"delivered"}
    await d.close()


@pytest.mark.parametrize("card", [CARD, LONG_CARD])
async def test_delivering_the_same_event_twice_changes_nothing_more(billing, clock, aiohttp_server, card):
    fake = stalker()
    fake.add_account(card, plan="basic", mac=MAC, status=0)
    fake, d = await ministra(billing, aiohttp_server, fake)
    until = clock.now + 30 * 86_400
    sequence = [events.grant(card, ("gold",), until, "en"), events.grant(card, ("sports",), until, "en"),
                events.revoke(card, ("sports",), "en"), events.revoke(card, ("gold",), "en")]
    paid = [None, None, ["gold"], []]  # as the outbox writes it: what the card keeps
    stored = [outbox_store.StoredEvent(n, f"e{n}", e.kind, card, {**e.payload, **({"paid": p} if p is not None else {})}, 0)
              for n, (e, p) in enumerate(zip(sequence, paid))]
    adapter = d._adapters[events.GRANT]

    states = []
    for event in stored:
        for _ in range(2):  # a crash after delivery, before it was recorded: the same event again
            await adapter.deliver(event)
            states.append((fake.account(card), len(fake.events)))
    for first, again in zip(states[::2], states[1::2]):
        assert first == again  # the same account, and no more reboots or messages
    after = [s[0] for s in states[::2]]
    assert [(a["status"], a["tariff_plan"], a["subscribed"]) for a in after] == [
        (1, "gold", []), (1, "gold", ["sports"]), (1, "gold", []), (0, "gold", [])]
    await d.close()


async def test_wrong_credentials_fail_without_showing_the_password(billing, clock, aiohttp_server):
    fake, d = await ministra(billing, aiohttp_server, password="wrong-password")
    fake.add_account(CARD, plan="basic")
    await billing.db.write(outbox_store.enqueue, [events.osd(CARD, "hello", "en")], clock.now)
    await drain(d, clock)
    [dead] = await billing.db.read(outbox_store.list_events, status="dead")
    assert "401" in dead.last_error and "wrong-password" not in dead.last_error
    assert fake.bad_auth == 4 and fake.messages(CARD) == []  # retries_max 3: four attempts, then dead
    await d.close()


@pytest.mark.parametrize("fixture, fails", [
    ("ok_true.json", False), ("account_get.json", False), ("tariffs_get.json", False),
    ("account_subscription_get.json", False), ("results_false.json", True),
    ("error_account_not_found.json", True), ("error_stb_not_found.json", True), ("error_resource.json", True),
    ("unauthorized.json", True)])
def test_recorded_answers_are_read_as_stalker_means_them(fixture, fails):
    body = (FIXTURES / fixture).read_bytes()
    if not fails:
        assert answer(body, "GET x") == json.loads(body)["results"]
        return
    with pytest.raises(DeliveryError) as refused:
        answer(body, "PUT accounts")
    assert refused.value.retryable
    error = json.loads(body).get("error")
    assert (error or "results is false") in refused.value.reason


async def test_the_fake_answers_as_the_recorded_fixtures(aiohttp_client):
    """The local Stalker's answers have the recorded shapes (keys, types, ERROR messages)."""
    fake = stalker()
    fake.add_account(LONG_CARD, plan="basic", mac=MAC)
    client = await aiohttp_client(fake.app)
    auth = {"Authorization": "Basic YmlsbGluZzptaW5pc3RyYS1wdw=="}  # billing:ministra-pw

    async def call(method: str, path: str, data=None, headers=auth) -> tuple[int, dict]:
        resp = await client.request(method, API + path, data=data, headers=headers)
        return resp.status, await resp.json()

    def shape(value):
        if isinstance(value, dict):
            return {k: shape(v) for k, v in value.items()}
        if isinstance(value, list):
            return [shape(value[0])] if value else []
        return type(value).__name__

    def recorded(name: str) -> dict:
        return json.loads((FIXTURES / name).read_text())

    assert await call("PUT", f"accounts/{LONG_CARD}", {"status": "1"}) == (200, recorded("ok_true.json"))
    await call("PUT", f"account_subscription/{MAC}", {"subscribed[]": "sports"})
    status, got = await call("GET", f"accounts/{LONG_CARD}")
    assert shape(got) == shape(recorded("account_get.json"))
    assert got["results"][0]["subscribed"] == ["sports"]
    status, got = await call("GET", f"account_subscription/{MAC}")
    assert got == recorded("account_subscription_get.json")
    assert shape((await call("GET", "tariffs"))[1]) == shape(recorded("tariffs_get.json"))
    assert await call("POST", f"send_event/{LONG_CARD}", {"event": "send_msg", "msg": "x"}) == (
        200, recorded("error_stb_not_found.json"))
    assert await call("GET", f"account_subscription/{LONG_CARD}") == (200, recorded("error_account_not_found.json"))
    assert await call("POST", "send_events/1", {"event": "send_msg"}) == (200, recorded("error_resource.json"))
    assert await call("POST", f"send_event/{MAC}", {"event": "dance"}) == (200, recorded("results_false.json"))
    assert await call("GET", "tariffs", headers={}) == (401, recorded("unauthorized.json"))
