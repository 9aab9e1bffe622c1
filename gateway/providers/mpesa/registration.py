"""Daraja's C2B URL registration (``registerurl`` v2): the URL rules and the bodies, pure.

Customer To Business Register URL, "URL Requirements": production URLs must be HTTPS, and
the filter refuses any URL containing "M-PESA, M-Pesa, Safaricom, exe, exec, cmd, SQL, query,
or any of their variants in either upper or lower cases". We check both before calling, so
an operator learns why at once (Daraja's own refusal names no reason).
"""
from __future__ import annotations

import ipaddress
from typing import Any, Mapping

from yarl import URL

from billing_core.errors import InvalidInput
from gateway.providers.mpesa.wire import DIGITS, WireError

# "mpesa" covers MPesa; "exe" covers "exec" (both kept, as the page lists them).
FORBIDDEN_WORDS = ("mpesa", "m-pesa", "safaricom", "exe", "exec", "cmd", "sql", "query")
RESPONSE_TYPES = ("Completed", "Cancelled")  # "must be in sentence case and well-spelled"


def forbidden_words(url: str) -> tuple[str, ...]:
    """The words of Daraja's URL filter that ``url`` contains, in any case (empty: none)."""
    lowered = url.lower()
    return tuple(word for word in FORBIDDEN_WORDS if word in lowered)


def url_problem(name: str, url: str) -> str:
    """Why Daraja would refuse ``url`` for registration ('' when it would not): empty, a refused
    word, or not HTTPS ("All Production URLs must be HTTPS"; plain HTTP only to loopback, for tests)."""
    if not url:
        return f"{name} is not set"
    words = forbidden_words(url)
    if words:
        return f"{name} contains {', '.join(repr(w) for w in words)}, which Daraja refuses to register"
    try:
        parsed = URL(url)
    except ValueError:
        return f"{name} is not a URL"
    host = (parsed.host or "").lower()
    if parsed.scheme == "https" and host:
        return ""
    if parsed.scheme == "http" and _loopback(host):
        return ""
    return f"{name} must be an https:// URL (http:// only to loopback, for tests)"


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def register_url_body(short_code: str, response_type: str, confirmation_url: str,
                      validation_url: str) -> dict[str, Any]:
    """The ``c2b/v2/registerurl`` body; InvalidInput for a URL Daraja would refuse."""
    if response_type not in RESPONSE_TYPES:
        raise InvalidInput(f"ResponseType must be Completed or Cancelled, not {response_type!r}")
    if not DIGITS.fullmatch(short_code or ""):
        raise InvalidInput("the short code must be digits")
    for name, url in (("ConfirmationURL", confirmation_url), ("ValidationURL", validation_url)):
        problem = url_problem(name, url)
        if problem:
            raise InvalidInput(problem)
    return {"ShortCode": short_code, "ResponseType": response_type, "ConfirmationURL": confirmation_url,
            "ValidationURL": validation_url}


def parse_registered(doc: Mapping[str, Any]) -> str:
    """The ``OriginatorCoversationID`` (Daraja's spelling) of an accepted registration."""
    if str(doc.get("ResponseCode")) != "0":
        raise WireError("ResponseCode is not 0")
    value = doc.get("OriginatorCoversationID", doc.get("OriginatorConversationID", ""))
    return value[:64] if isinstance(value, str) else ""
