"""Refusals the domain expects, each with a stable ``code``.

Callers choose what to do by class, and map ``code`` to an HTTP status, a USSD
screen or an SMS text. Anything else raised is a bug.

    DomainError
    ├── InvalidInput            the request itself is wrong (4xx, nothing changed)
    │   ├── InvalidAmount
    │   ├── UnknownCurrency
    │   ├── InvalidCard
    │   ├── InvalidMsisdn
    │   └── InvalidImport
    ├── NotFound                a named thing does not exist
    │   ├── UnknownCard
    │   ├── UnknownPackage
    │   └── UnknownEntry
    └── Conflict                the state of the world says no
        ├── AlreadyExists
        ├── InsufficientWallet
        ├── AlreadyReversed
        └── SubscriberBlocked
"""
from __future__ import annotations


class DomainError(Exception):
    code = "error"
    http_status = 400

    def __init__(self, detail: str = "", *extra: object):
        self.detail = " ".join(str(part) for part in (detail, *extra) if part != "")
        super().__init__(self.detail or self.code)


class InvalidInput(DomainError):
    code = "invalid_input"
    http_status = 400


class InvalidAmount(InvalidInput):
    code = "invalid_amount"


class UnknownCurrency(InvalidInput):
    code = "unknown_currency"


class InvalidCard(InvalidInput):
    code = "invalid_card"


class InvalidMsisdn(InvalidInput):
    code = "invalid_msisdn"


class InvalidImport(InvalidInput):
    code = "invalid_import"


class NotFound(DomainError):
    code = "not_found"
    http_status = 404


class UnknownCard(NotFound):
    code = "unknown_card"


class UnknownPackage(NotFound):
    code = "unknown_package"


class UnknownEntry(NotFound):
    code = "unknown_entry"


class Conflict(DomainError):
    code = "conflict"
    http_status = 409


class AlreadyExists(Conflict):
    code = "already_exists"


class InsufficientWallet(Conflict):
    code = "insufficient_wallet"


class AlreadyReversed(Conflict):
    code = "already_reversed"


class SubscriberBlocked(Conflict):
    code = "subscriber_blocked"
