"""The OpenAPI 3 document of the dealer API (``GET /api/openapi.json``).

Written by hand next to the handlers in :mod:`gateway.dealer_api.routes`; the tests
fuzz the running app from it, so it must say what the code does.
"""
from __future__ import annotations

from functools import lru_cache

_MONEY = {"type": "string", "pattern": r"^[A-Z]{3} -?[0-9]+(\.[0-9]+)?$", "example": "KES 500.00"}
_TIME = {"type": ["string", "null"], "format": "date-time", "example": "2026-12-22T10:00:00Z"}
_CARD = {"type": "string", "pattern": "^[0-9]{8,12}$", "example": "12345678"}
_ERROR = {"type": "object", "required": ["error"],
          "properties": {"error": {"type": "string"}, "detail": {"type": "string"}}}


def _error(description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


_AUTH_ERRORS = {
    "401": _error("missing, stale (more than dealers.signature_window_s off) or badly signed request; a request "
                  "seen before under another Idempotency-Key or none; unknown or revoked key"),
    "429": {**_error("too many requests for this key (dealers.requests_per_minute)"),
            "headers": {"Retry-After": {"schema": {"type": "integer"}, "description": "seconds"}}},
    "503": _error("the database (seen signatures) or the shared state store (rate limits) did not answer"),
}

_TOPUP_REQUEST = {
    "type": "object",
    "description": "Exactly one of tvu, package or amount.",
    "required": ["card"],
    "additionalProperties": False,
    "properties": {
        "card": _CARD,
        "tvu": {"type": "integer", "minimum": 1, "maximum": 10_000_000},
        "package": {"type": "string", "minLength": 1, "maxLength": 32, "example": "BASIC"},
        "amount": {**_MONEY, "description": "in the dealer's currency, converted to TVU at the currency's rate "
                                            "(floored; the part below one TVU is kept, not credited)"},
        "site": {"type": "string", "maxLength": 64, "description": "one of the dealer's sales points"},
    },
    "oneOf": [{"required": ["tvu"]}, {"required": ["package"]}, {"required": ["amount"]}],
}

_TOPUP_CREATED = {
    "type": "object",
    "required": ["id", "card", "tvu_credited", "wallet_tvu", "package", "expires_at", "dealer_balance"],
    "properties": {
        "id": {"type": "integer"}, "dealer": {"type": "integer"}, "card": _CARD,
        "kind": {"type": "string", "enum": ["tvu", "package", "amount"]},
        "tvu_credited": {"type": "integer"}, "wallet_tvu": {"type": "integer"},
        "package": {"type": ["string", "null"]},
        "status": {"type": "string", "enum": ["new", "active", "expired", "suspended"]},
        "expires_at": _TIME, "renewed": {"type": "boolean"},
        "face_value": _MONEY, "commission": _MONEY, "dealer_balance": _MONEY, "created_at": _TIME,
    },
}

_TOPUP = {
    "type": "object",
    "required": ["id", "card", "kind", "tvu_credited", "face_value", "commission", "status"],
    "properties": {
        "id": {"type": "integer"}, "card": _CARD, "kind": {"type": "string", "enum": ["tvu", "package", "amount"]},
        "package": {"type": ["string", "null"]}, "tvu_credited": {"type": "integer"},
        "face_value": _MONEY, "commission": _MONEY, "renewed": {"type": "boolean"},
        "status": {"type": "string", "enum": ["done", "reversed"]}, "site": {"type": "string"},
        "created_at": _TIME, "reversed_at": _TIME,
    },
}

_SUBSCRIBER = {
    "type": "object",
    "required": ["card", "name", "status", "package", "expires_at"],
    "properties": {
        "card": _CARD, "name": {"type": "string", "description": "masked: J*** D**"},
        "status": {"type": "string", "enum": ["new", "active", "expired", "suspended"]},
        "package": {"type": ["string", "null"]}, "package_name": {"type": ["string", "null"]},
        "package_tvu": {"type": ["integer", "null"]}, "expires_at": _TIME,
    },
}

_BALANCE = {
    "type": "object",
    "required": ["dealer", "currency", "balance", "balance_minor"],
    "properties": {"dealer": {"type": "integer"}, "name": {"type": "string"}, "currency": {"type": "string"},
                   "balance": _MONEY, "balance_minor": {"type": "integer"},
                   "status": {"type": "string", "enum": ["active", "suspended"]}, "at": _TIME},
}

_STATEMENT = {
    "type": "object",
    "required": ["dealer", "currency", "opening_balance", "closing_balance", "movements", "sales", "cards"],
    "properties": {
        "dealer": {"type": "integer"}, "currency": {"type": "string"}, "from": _TIME, "to": _TIME,
        "opening_balance": _MONEY, "closing_balance": _MONEY, "truncated": {"type": "boolean"},
        "movements": {"type": "array", "items": {"type": "object", "properties": {
            "entry": {"type": "integer"}, "at": _TIME,
            "kind": {"type": "string", "description": "dealer_fund, dealer_transfer, dealer_sale, reversal"},
            "ref": {"type": "string"}, "amount": _MONEY, "balance": _MONEY}}},
        "sales": {"type": "object", "properties": {"count": {"type": "integer"}, "face_value": _MONEY,
                                                   "commission": _MONEY, "reversed": {"type": "integer"}}},
        "cards": {"type": "object", "properties": {"activated": {"type": "integer"},
                                                   "value_tvu": {"type": "integer"}}},
    },
}


def _ok(description: str, schema: str, status: str = "200") -> dict:
    return {status: {"description": description,
                     "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}}}}


@lru_cache(maxsize=1)
def document() -> dict:
    """The OpenAPI 3.1 document (built once)."""
    return {
        "openapi": "3.1.0",
        "info": {"title": "tvtopup dealer API", "version": "1",
                 "description": "Signed requests: X-Signature = hex(HMAC-SHA256(secret, METHOD + '\\n' + "
                                "PATH_WITH_QUERY + '\\n' + X-Timestamp + '\\n' + hex(SHA256(body)))). "
                                "Each signed request is accepted once; sign a retry anew."},
        "security": [{"DealerKey": [], "Timestamp": [], "Signature": []}],
        "paths": {
            "/api/v1/topups": {"post": {
                "operationId": "createTopup",
                "summary": "Sell TVU, a package (renews at once, stacked) or an amount to a card",
                "parameters": [{"name": "Idempotency-Key", "in": "header", "required": True,
                                "description": "the same key and body get the first response, also when the very "
                                               "same signed request is resent; kept dealers.idempotency_hours",
                                "schema": {"type": "string", "pattern": "^[A-Za-z0-9._:-]{1,64}$"}}],
                "requestBody": {"required": True,
                                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/TopupRequest"}}}},
                "responses": {
                    **_ok("sold (or, with Idempotent-Replayed: true, the first response to this key)", "TopupCreated",
                          "201"),
                    "400": _error("malformed body, card or amount; missing Idempotency-Key"),
                    "404": _error("unknown card or package"),
                    "409": _error("insufficient_float, daily_limit_reached, dealer_suspended, subscriber_blocked, "
                                  "or idempotency_conflict (the key was used with another body)"),
                    "413": _error("body larger than 4 KiB"),
                    **_AUTH_ERRORS}}},
            "/api/v1/topups/{id}": {"get": {
                "operationId": "getTopup", "summary": "One of the calling dealer's top-ups",
                "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}],
                "responses": {**_ok("the top-up", "Topup"), "404": _error("no such top-up of this dealer"),
                              **_AUTH_ERRORS}}},
            "/api/v1/subscribers/{card}": {"get": {
                "operationId": "getSubscriber", "summary": "What is needed to sell to a card",
                "parameters": [{"name": "card", "in": "path", "required": True, "schema": {"type": "string"}}],
                "responses": {**_ok("the subscriber, name masked", "Subscriber"),
                              "400": _error("not a card number"), "404": _error("unknown card"), **_AUTH_ERRORS}}},
            "/api/v1/balance": {"get": {
                "operationId": "getBalance", "summary": "The calling dealer's float",
                "responses": {**_ok("the float", "Balance"), **_AUTH_ERRORS}}},
            "/api/v1/statement": {"get": {
                "operationId": "getStatement", "summary": "Float movements, sales and cards of a period",
                "parameters": [{"name": n, "in": "query", "required": False,
                                "schema": {"type": "string", "example": "2026-11-01"}} for n in ("from", "to")],
                "responses": {**_ok("the statement", "Statement"), "400": _error("a date is not ISO 8601"),
                              **_AUTH_ERRORS}}},
        },
        "components": {
            "securitySchemes": {
                "DealerKey": {"type": "apiKey", "in": "header", "name": "X-Dealer-Key"},
                "Timestamp": {"type": "apiKey", "in": "header", "name": "X-Timestamp"},
                "Signature": {"type": "apiKey", "in": "header", "name": "X-Signature"},
            },
            "schemas": {"Error": _ERROR, "TopupRequest": _TOPUP_REQUEST, "TopupCreated": _TOPUP_CREATED,
                        "Topup": _TOPUP, "Subscriber": _SUBSCRIBER, "Balance": _BALANCE, "Statement": _STATEMENT},
        },
    }
