"""Reading the JSON bodies of mobile-money providers: what MTN MoMo, Airtel Money and
Africa's Talking read alike. Pure, no I/O.

- :class:`WireError` is a body that is not the shape the provider documents;
- :func:`text_field` reads an optional string, cut to ``TEXT_MAX`` characters;
- :func:`raw` is the body as kept for audit (sorted keys, at most ``RAW_MAX`` characters);
- ``TXID`` is a provider's transaction id we can record;
- :func:`parse_token` reads an OAuth client-credentials token
  ``{"access_token": "…", "expires_in": 3600 or "3600", …}``.

M-Pesa's Daraja payloads are read by their own stricter rules (``mpesa/wire.py``).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

TXID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
TEXT_MAX = 255
RAW_MAX = 4000


class WireError(ValueError):
    """A body that is not what the provider documents."""


@dataclass(frozen=True, slots=True)
class Token:
    access_token: str
    expires_in_s: int


def text_field(doc: dict[str, Any], key: str) -> str:
    """``doc[key]``: a string cut to ``TEXT_MAX``, '' when absent or null; WireError otherwise."""
    value = doc.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise WireError(f"{key} must be a string")
    return value[:TEXT_MAX]


def raw(doc: dict[str, Any]) -> str:
    """The body as kept with a payment for audit."""
    return json.dumps(doc, sort_keys=True)[:RAW_MAX]


def parse_token(body: object) -> Token:
    """A token reply; ``expires_in`` is a positive number of seconds, or its digits as a string."""
    if not isinstance(body, dict):
        raise WireError("expected a JSON object")
    token, expires = body.get("access_token"), body.get("expires_in")
    if not isinstance(token, str) or not token:
        raise WireError("access_token missing")
    if isinstance(expires, str) and expires.isdigit():
        expires = int(expires)
    if type(expires) is not int or expires <= 0:
        raise WireError("expires_in must be a positive number of seconds")
    return Token(token, expires)
