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
    │   ├── UnknownEvent
    │   ├── UnknownEntry
    │   └── UnknownDealer, UnknownTopup
    ├── Unauthorized            a dealer request not signed as the contract says (401)
    ├── RateLimited             too many requests for now (429)
    └── Conflict                the state of the world says no
        ├── AlreadyExists
        ├── InsufficientWallet
        ├── AlreadyReversed
        ├── SubscriberBlocked
        ├── InsufficientFloat, DealerSuspended, DailyLimitReached, IdempotencyConflict,
        │   NotReversible
        └── AlreadyBought, EventClosed, BaseNotActive, AddonActive, WrongPackageKind, SamePackage
            (pay-per-view, add-ons, package changes)
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


class UnknownEvent(NotFound):
    code = "unknown_event"


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


# ---- dealers -------------------------------------------------------------------------------

class UnknownDealer(NotFound):
    code = "unknown_dealer"


class UnknownTopup(NotFound):
    code = "unknown_topup"


class Unauthorized(DomainError):
    code = "unauthorized"
    http_status = 401


class RateLimited(DomainError):
    code = "rate_limited"
    http_status = 429


class InsufficientFloat(Conflict):
    code = "insufficient_float"


class DealerSuspended(Conflict):
    code = "dealer_suspended"


class DailyLimitReached(Conflict):
    code = "daily_limit_reached"


class IdempotencyConflict(Conflict):
    code = "idempotency_conflict"


class NotReversible(Conflict):
    code = "not_reversible"


# ---- pay-per-view, add-ons, package changes ------------------------------------------------

class AlreadyBought(Conflict):
    code = "already_bought"


class EventClosed(Conflict):
    """The event is cancelled or over: not for sale, not cancellable."""

    code = "event_closed"


class BaseNotActive(Conflict):
    code = "base_not_active"


class AddonActive(Conflict):
    code = "addon_active"


class WrongPackageKind(Conflict):
    """A base package where an add-on is expected, or the other way round."""

    code = "wrong_package_kind"


class SamePackage(Conflict):
    code = "same_package"


# ---- sites, decoder stock, products, promotions ----------------------------------------------

class UnknownSite(NotFound):
    code = "unknown_site"


class UnknownDecoder(NotFound):
    code = "unknown_decoder"


class UnknownProduct(NotFound):
    code = "unknown_product"


class UnknownPromotion(NotFound):
    code = "unknown_promotion"


class DecoderState(Conflict):
    """A decoder cannot go from the state it is in to the one asked (already installed, faulty…)."""

    code = "decoder_state"
