"""Request signatures of the dealer API (pure, no I/O).

    X-Signature = hex(HMAC-SHA256(secret, METHOD + "\\n" + PATH_WITH_QUERY + "\\n" + TIMESTAMP
                                          + "\\n" + hex(SHA256(body))))

``PATH_WITH_QUERY`` is the request target exactly as sent (``/api/v1/statement?from=…``),
``TIMESTAMP`` the ``X-Timestamp`` header (Unix seconds) and ``body`` the raw bytes (empty
for a GET). Signatures are compared in constant time.
"""
from __future__ import annotations

import hashlib
import hmac
import re

SIGNATURE = re.compile(r"[0-9a-fA-F]{64}")
TIMESTAMP = re.compile(r"[0-9]{1,12}")


def body_hash(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def canonical(method: str, path_qs: str, timestamp: str, body: bytes) -> bytes:
    return f"{method.upper()}\n{path_qs}\n{timestamp}\n{body_hash(body)}".encode()


def sign(secret: str, method: str, path_qs: str, timestamp: str | int, body: bytes = b"") -> str:
    """The ``X-Signature`` of a request (what a dealer's client computes)."""
    return hmac.new(secret.encode(), canonical(method, path_qs, str(timestamp), body), hashlib.sha256).hexdigest()


def valid(secret: str, signature: str, method: str, path_qs: str, timestamp: str, body: bytes) -> bool:
    return hmac.compare_digest(sign(secret, method, path_qs, timestamp, body), signature.lower())


def signed_headers(key_id: str, secret: str, method: str, path_qs: str, timestamp: int,
                   body: bytes = b"") -> dict[str, str]:
    """The three authentication headers for a request (clients, tests, the benchmark)."""
    return {"X-Dealer-Key": key_id, "X-Timestamp": str(timestamp),
            "X-Signature": sign(secret, method, path_qs, timestamp, body)}
