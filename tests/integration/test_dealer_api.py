"""The signed dealer API through the real app (``create_app``) on SQLite and PostgreSQL.

Every attack is refused (401, 404, 409) and moves nothing: the wallet, the float and
the ledger are checked after each.
"""
from __future__ import annotations

import asyncio
import json

import pytest

from billing_core import dealers
from billing_core import subscriptions as subs
from gateway.dealer_api.signing import signed_headers
from gateway.keys import BILLING
from tests.integration.test_dealer_topups import assert_books_balance

MASTER = "master-key-for-tests-0123456789"
CARD = "12345678"


class Dealer:
    """A dealer's client: signs every request with its key."""

    def __init__(self, client, clock, key_id: str, secret: str):
        self.client, self.clock, self.key_id, self.secret = client, clock, key_id, secret

    def headers(self, method: str, path: str, body: bytes = b"", *, ts: int | None = None, secret: str | None = None,
                key: str | None = None) -> dict:
        ts = self.clock.now if ts is None else ts
        return signed_headers(key or self.key_id, secret or self.secret, method, path, ts, body)

    async def get(self, path: str, **kw):
        return await self.client.get(path, headers=self.headers("GET", path, **kw))

    async def topup(self, doc: dict, idem: str = "idem-1", *, body: bytes | None = None, **kw):
        raw = body if body is not None else json.dumps(doc).encode()
        headers = {**self.headers("POST", "/api/v1/topups", raw, **kw), "Idempotency-Key": idem,
                   "Content-Type": "application/json"}
        return await self.client.post("/api/v1/topups", data=raw, headers=headers)


@pytest.fixture
async def app_client(gateway_client):
    return await gateway_client(**{"dealers.secret_key": MASTER, "dealers.requests_per_minute": 100_000})


async def new_dealer(client, clock, *, fund: str = "KES 1000", name: str = "Shop") -> Dealer:
    billing = client.app[BILLING]
    made = await dealers.add_dealer(billing, name, "KES", master_key=MASTER, commission_pct="5")
    if fund:
        await dealers.fund_dealer(billing, made.dealer.id, fund)
    return Dealer(client, clock, made.key_id, made.secret)


async def seeded(client, clock, cards=(CARD,)) -> Dealer:
    billing = client.app[BILLING]
    await subs.add_package(billing, "BASIC", "Basic", 30, 150, ("101",))
    for i, card in enumerate(cards):
        await subs.add_subscriber(billing, card, f"+2547{12345000 + i:08d}", package="BASIC", name="Jane Wanjiru")
    return await new_dealer(client, clock)


async def wallet(client, card: str = CARD) -> int:
    return (await subs.show_subscriber(client.app[BILLING], card)).wallet_tvu


async def float_of(dealer: Dealer) -> str:
    resp = await dealer.get("/api/v1/balance")
    assert resp.status == 200
    return (await resp.json())["balance"]


async def test_signed_topup_sells(app_client, clock):
    dealer = await seeded(app_client, clock)
    resp = await dealer.topup({"card": CARD, "tvu": 100})
    assert resp.status == 201, await resp.text()
    body = await resp.json()
    assert {"id", "card", "tvu_credited", "wallet_tvu", "package", "expires_at", "dealer_balance"} <= body.keys()
    assert (body["tvu_credited"], body["wallet_tvu"], body["dealer_balance"]) == (100, 100, "KES 905.00")
    assert "X-Request-Id" in resp.headers
    shown = await dealer.get(f"/api/v1/topups/{body['id']}")
    assert (await shown.json())["face_value"] == "KES 100.00"
    sub = await (await dealer.get(f"/api/v1/subscribers/{CARD}")).json()
    assert sub["name"] == "J*** W******" and "msisdn" not in sub and "wallet_tvu" not in sub
    statement = await (await dealer.get("/api/v1/statement?from=2020-01-01&to=2100-01-01")).json()
    assert [m["amount"] for m in statement["movements"]] == ["KES 1000.00", "KES -95.00"]
    await assert_books_balance(app_client.app[BILLING])


async def test_bad_signatures_are_refused_and_move_nothing(app_client, clock):
    dealer = await seeded(app_client, clock)
    doc = {"card": CARD, "tvu": 100}
    raw = json.dumps(doc).encode()
    attempts = [
        await dealer.topup(doc, "a1", secret="0" * 64),                   # wrong secret
        await dealer.topup(doc, "a2", ts=clock.now - 301),                # stale
        await dealer.topup(doc, "a3", ts=clock.now + 301),                # from the future
        await dealer.topup(doc, "a4", key="dk_" + "1" * 24),              # unknown key
    ]
    # one changed byte: the signature is over the original body
    headers = {**dealer.headers("POST", "/api/v1/topups", raw), "Idempotency-Key": "a5"}
    attempts.append(await app_client.post("/api/v1/topups", data=raw.replace(b"100", b"900"), headers=headers))
    attempts.append(await app_client.post("/api/v1/topups", data=raw, headers={"Idempotency-Key": "a6"}))
    assert [r.status for r in attempts] == [401] * 6
    assert [(await r.json())["error"] for r in attempts] == ["unauthorized"] * 6
    assert await wallet(app_client) == 0 and await float_of(dealer) == "KES 1000.00"


async def test_a_captured_request_cannot_be_replayed(app_client, clock):
    dealer = await seeded(app_client, clock)
    raw = json.dumps({"card": CARD, "tvu": 10}).encode()
    headers = {**dealer.headers("POST", "/api/v1/topups", raw), "Idempotency-Key": "r1"}
    first = await app_client.post("/api/v1/topups", data=raw, headers=headers)
    again = await app_client.post("/api/v1/topups", data=raw, headers=headers)
    renamed = await app_client.post("/api/v1/topups", data=raw, headers={**headers, "Idempotency-Key": "r2"})
    # the very same request again is a client that lost the response: it gets the first one
    assert (first.status, again.status, renamed.status) == (201, 201, 401)
    assert await again.json() == await first.json()
    # the same for a read: a signed GET is good once
    get = dealer.headers("GET", "/api/v1/balance")
    assert [(await app_client.get("/api/v1/balance", headers=get)).status for _ in range(2)] == [200, 401]
    assert await wallet(app_client) == 10


async def test_rotated_keys_old_and_new_then_revoked(app_client, clock):
    dealer = await seeded(app_client, clock)
    billing = app_client.app[BILLING]
    made = await dealers.rotate_key(billing, 1, master_key=MASTER)
    new = Dealer(app_client, clock, made.key_id, made.secret)
    assert (await dealer.get("/api/v1/balance")).status == 200
    assert (await new.get("/api/v1/balance")).status == 200
    await dealers.rotate_key(billing, 1, master_key=MASTER, revoke_old=True)
    clock.advance(1)
    assert (await dealer.get("/api/v1/balance")).status == 401
    assert (await new.topup({"card": CARD, "tvu": 1}, "after-revoke")).status == 401
    assert await wallet(app_client) == 0


async def test_idempotency_over_http(app_client, clock):
    dealer = await seeded(app_client, clock)
    first = await dealer.topup({"card": CARD, "tvu": 10}, "same")
    clock.advance(1)  # a retry is signed anew
    again = await dealer.topup({"card": CARD, "tvu": 10}, "same")
    assert (first.status, again.status) == (201, 201)
    assert await first.json() == await again.json() and again.headers["Idempotent-Replayed"] == "true"
    clock.advance(1)
    other = await dealer.topup({"card": CARD, "tvu": 11}, "same")
    assert (other.status, (await other.json())["error"]) == (409, "idempotency_conflict")
    clock.advance(1)
    missing = await dealer.client.post("/api/v1/topups", data=b'{"card": "12345678", "tvu": 1}',
                                       headers=dealer.headers("POST", "/api/v1/topups",
                                                              b'{"card": "12345678", "tvu": 1}'))
    assert missing.status == 400
    assert await wallet(app_client) == 10


async def test_fifty_concurrent_copies_over_http(app_client, clock):
    dealer = await seeded(app_client, clock)
    doc = {"card": CARD, "tvu": 5}
    # each copy signed with its own timestamp, as a retrying client would
    replies = await asyncio.gather(*(dealer.topup(doc, "burst", ts=clock.now - i) for i in range(50)))
    assert {r.status for r in replies} == {201}
    assert len({(await r.json())["id"] for r in replies}) == 1
    assert await wallet(app_client) == 5
    await assert_books_balance(app_client.app[BILLING])


async def test_another_dealers_topup_is_not_found(app_client, clock):
    alice = await seeded(app_client, clock)
    bob = await new_dealer(app_client, clock, name="Bob")
    sold = await (await alice.topup({"card": CARD, "tvu": 10})).json()
    assert (await alice.get(f"/api/v1/topups/{sold['id']}")).status == 200
    assert (await bob.get(f"/api/v1/topups/{sold['id']}")).status == 404
    assert (await bob.get("/api/v1/topups/999999")).status == 404
    bob_statement = await (await bob.get("/api/v1/statement")).json()
    assert bob_statement["sales"]["count"] == 0 and len(bob_statement["movements"]) == 1
    assert await float_of(bob) == "KES 1000.00"


async def test_refusals_are_4xx_and_move_nothing(app_client, clock):
    dealer = await seeded(app_client, clock)
    cases = [({"card": CARD, "tvu": 2000}, 409, "insufficient_float"),
             ({"card": "99999999", "tvu": 1}, 404, "unknown_card"),
             ({"card": CARD, "package": "NOPE"}, 404, "unknown_package"),
             ({"card": CARD, "tvu": 1, "package": "BASIC"}, 400, "invalid_input"),
             ({"card": CARD, "amount": "KES -5"}, 400, "invalid_amount"),
             ({"card": CARD, "tvu": 1.5}, 400, "invalid_input"),
             ({"card": "12AB", "tvu": 1}, 400, "invalid_card")]
    for i, (doc, status, code) in enumerate(cases):
        resp = await dealer.topup(doc, f"bad-{i}")
        assert (resp.status, (await resp.json())["error"]) == (status, code), doc
    resp = await dealer.topup({}, "bad-json", body=b"{not json")
    assert resp.status == 400
    assert await wallet(app_client) == 0 and await float_of(dealer) == "KES 1000.00"
    await assert_books_balance(app_client.app[BILLING])


async def test_float_race_over_http(app_client, clock):
    cards = [str(30_000_000 + i) for i in range(10)]
    dealer = await seeded(app_client, clock, cards)
    billing = app_client.app[BILLING]
    made = await dealers.add_dealer(billing, "Small", "KES", master_key=MASTER)
    await dealers.fund_dealer(billing, made.dealer.id, "KES 50")
    small = Dealer(app_client, clock, made.key_id, made.secret)
    # identical bodies signed in the same second are one request (the replay cache): stamp each apart
    replies = await asyncio.gather(*(small.topup({"card": cards[i % 10], "tvu": 1}, f"k{i}", ts=clock.now - i)
                                     for i in range(100)))
    statuses = [r.status for r in replies]
    assert (statuses.count(201), statuses.count(409)) == (50, 50)
    assert await float_of(small) == "KES 0.00" and await float_of(dealer) == "KES 1000.00"
    await assert_books_balance(billing)


async def test_rate_limit_answers_429_with_retry_after(gateway_client, clock):
    client = await gateway_client(**{"dealers.secret_key": MASTER, "dealers.requests_per_minute": 3})
    dealer = await new_dealer(client, clock)
    statuses = []
    for i in range(4):
        resp = await dealer.get("/api/v1/balance", ts=clock.now - i)
        statuses.append(resp.status)
    assert statuses == [200, 200, 200, 429]
    assert int(resp.headers["Retry-After"]) >= 1


async def test_without_master_key_every_call_is_refused(gateway_client, clock):
    client = await gateway_client()
    raw = b'{"card": "12345678", "tvu": 1}'
    headers = {**signed_headers("dk_" + "a" * 24, "x" * 64, "POST", "/api/v1/topups", clock.now, raw),
               "Idempotency-Key": "k"}
    assert (await client.post("/api/v1/topups", data=raw, headers=headers)).status == 401


async def test_openapi_document_names_every_route(app_client):
    doc = await (await app_client.get("/api/openapi.json")).json()
    assert doc["openapi"].startswith("3.")
    assert set(doc["paths"]) == {"/api/v1/topups", "/api/v1/topups/{id}", "/api/v1/subscribers/{card}",
                                 "/api/v1/balance", "/api/v1/statement"}
    routes = {r.resource.canonical for r in app_client.app.router.routes() if r.resource.canonical.startswith("/api/v1")}
    assert routes == set(doc["paths"])
