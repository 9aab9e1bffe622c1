"""Settings: one frozen value built once at start, from three layers.

Precedence, lowest first:

1. ``config/default.toml``, the built-in defaults; it lists every key that exists;
2. the TOML file given to :func:`load_settings` or named by ``TVTOPUP_CONFIG``;
3. environment variables.

Environment variables: ``TVTOPUP_SECTION__KEY`` sets ``section.key``. The section is
lower-cased; the key is lower-cased too, except in ``currencies`` where it is kept as
written (``TVTOPUP_TV__URL`` sets ``tv.url``, ``TVTOPUP_CURRENCIES__KES`` sets
``currencies.KES``). Aliases: ``TVTOPUP_DATABASE_URL`` (``database.url``) and
``TVTOPUP_REDIS_URL`` (``redis.url``). ``TVTOPUP_CONFIG`` names the file. Any other
``TVTOPUP_*`` variable is an error. Values are text converted to the key's type: int
(decimal digits, optional sign), float, bool (true/false/1/0/yes/no), list of str
(comma-separated), list of int (comma-separated), str, Secret.

Every problem (unknown section or key, wrong type, value out of range, unreadable
file) raises :class:`SettingsError` naming the key and where it came from.
:func:`load_settings` is the only reader of ``os.environ`` for settings, and nothing
is read at import time.
"""

from __future__ import annotations

import math
import os
import re
import tomllib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, fields
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any, ClassVar, get_type_hints
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = [
    "AfricasTalkingSettings",
    "AirtelSettings",
    "MpesaSettings",
    "MtnSettings",
    "DatabaseSettings",
    "LoggingSettings",
    "OperatorSettings",
    "OutboxSettings",
    "PaymentsSettings",
    "RedisSettings",
    "SchedulerSettings",
    "Secret",
    "SecuritySettings",
    "ServerSettings",
    "Settings",
    "SettingsError",
    "SmppSettings",
    "SmsSettings",
    "TvSettings",
    "load_settings",
    "with_overrides",
]

_PREFIX = "TVTOPUP_"
_CONFIG_VAR = "TVTOPUP_CONFIG"
_ALIASES = {"TVTOPUP_DATABASE_URL": "database.url", "TVTOPUP_REDIS_URL": "redis.url"}
_CURRENCY = re.compile(r"[A-Z]{3}")
_REGION = re.compile(r"[A-Z]{2}")
_AMOUNT = re.compile(r"[0-9]{1,15}(\.[0-9]{1,4})?")
_ENV_INT = re.compile(r"[+-]?[0-9]+")
_ENV_FLOAT = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?")
_ENV_BOOL = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
_STRS = tuple[str, ...]
_INTS = tuple[int, ...]


class SettingsError(Exception):
    """A setting is unknown, of the wrong type or out of range; or the file is unusable.

    ``key`` is what is at fault (``tv.retry_first_s``, an environment variable or a file
    name), ``problem`` what is wrong with it, ``source`` where the value came from.
    """

    def __init__(self, key: str, problem: str, source: str | None = None) -> None:
        where = f" (from {source})" if source else ""
        super().__init__(f"{key}: {problem}{where}")
        self.key, self.problem, self.source = key, problem, source


class Secret:
    """A string that never shows itself in ``repr`` or ``str``; ``reveal()`` returns it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError("Secret wraps a str")
        object.__setattr__(self, "_value", value)

    def reveal(self) -> str:
        return self._value

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Secret is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("Secret is immutable")

    def __reduce__(self) -> tuple[type[Secret], tuple[str]]:
        return (Secret, (self._value,))

    def __repr__(self) -> str:
        return "Secret('**********')" if self._value else "Secret('')"

    __str__ = __repr__

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return self._value == other._value

    def __hash__(self) -> int:
        return hash((Secret, self._value))


def _mask_url(url: str) -> str:
    """``url`` with the password of its user info replaced by ``***``."""
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
    except ValueError:
        return "***"
    userinfo, _, host = parts.netloc.rpartition("@")
    user = userinfo.partition(":")[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def _shown(name: str, value: object) -> object:
    """``value`` as it may be printed: URL passwords masked (secrets mask themselves)."""
    if name.endswith("url") and isinstance(value, str):
        return _mask_url(value)
    return value


def _redact(name: str, value: object) -> object:
    if isinstance(value, Secret):
        return "***" if value else ""
    if isinstance(value, tuple):
        return list(value)
    return _shown(name, value)


def _require(ok: bool, key: str, problem: str) -> None:
    if not ok:
        raise SettingsError(key, problem)


class _Section:
    """Base of the section dataclasses: a safe ``repr`` and the range checks they share."""

    section: ClassVar[str]

    def __repr__(self) -> str:
        shown = (f"{f.name}={_shown(f.name, getattr(self, f.name))!r}" for f in fields(self))
        return f"{type(self).__name__}({', '.join(shown)})"

    def redacted(self) -> dict[str, object]:
        return {f.name: _redact(f.name, getattr(self, f.name)) for f in fields(self)}

    def _key(self, name: str) -> str:
        return f"{self.section}.{name}"

    def _at_least(self, name: str, low: int) -> None:
        value = getattr(self, name)
        _require(value >= low, self._key(name), f"must be at least {low}, got {value!r}")

    def _within(self, name: str, low: int, high: int) -> None:
        value = getattr(self, name)
        ok = low <= value <= high
        _require(ok, self._key(name), f"must be between {low} and {high}, got {value!r}")

    def _positive(self, name: str) -> None:
        value = getattr(self, name)
        _require(value > 0, self._key(name), f"must be greater than 0, got {value!r}")

    def _one_of(self, name: str, choices: tuple[str, ...]) -> None:
        value = getattr(self, name)
        expected = f"must be one of {', '.join(choices)}, got {value!r}"
        _require(value in choices, self._key(name), expected)

    def _non_empty(self, name: str, why: str = "must not be empty") -> None:
        _require(bool(getattr(self, name)), self._key(name), why)

    def _http_url(self, name: str) -> None:
        value = getattr(self, name)
        ok = value == "" or value.startswith(("http://", "https://"))
        _require(ok, self._key(name), "must be an http:// or https:// URL")


@dataclass(frozen=True, repr=False)
class OperatorSettings(_Section):
    section: ClassVar[str] = "operator"
    region: str
    currency: str
    name: str
    card_min_length: int
    card_max_length: int
    default_lang: str
    languages: tuple[str, ...]
    timezone: str

    def __post_init__(self) -> None:
        _require(bool(_REGION.fullmatch(self.region)), "operator.region",
                 f"must be 2 upper-case letters, got {self.region!r}")
        _require(bool(_CURRENCY.fullmatch(self.currency)), "operator.currency",
                 f"must be 3 upper-case letters, got {self.currency!r}")
        self._within("card_min_length", 4, 20)
        self._within("card_max_length", self.card_min_length, 20)
        self._non_empty("languages")
        self._one_of("default_lang", self.languages)
        self._check_timezone()

    def _check_timezone(self) -> None:
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise SettingsError("operator.timezone",
                                f"unknown time zone {self.timezone!r}") from None


@dataclass(frozen=True, repr=False)
class DatabaseSettings(_Section):
    section: ClassVar[str] = "database"
    url: str
    pool_size: int
    sqlite_synchronous: str
    sqlite_busy_timeout_ms: int
    statement_timeout_ms: int
    acquire_timeout_s: float

    def __post_init__(self) -> None:
        _require("://" in self.url, "database.url",
                 "must be a URL such as sqlite+aiosqlite:///./tvtopup.db")
        self._at_least("pool_size", 1)
        self._one_of("sqlite_synchronous", ("OFF", "NORMAL", "FULL", "EXTRA"))
        self._at_least("sqlite_busy_timeout_ms", 1)
        self._at_least("statement_timeout_ms", 1)
        self._positive("acquire_timeout_s")


@dataclass(frozen=True, repr=False)
class RedisSettings(_Section):
    section: ClassVar[str] = "redis"
    url: str
    key_prefix: str

    def __post_init__(self) -> None:
        ok = self.url == "" or self.url.startswith(("redis://", "rediss://", "unix://"))
        _require(ok, "redis.url", "must be empty or a redis://, rediss:// or unix:// URL")


@dataclass(frozen=True, repr=False)
class ServerSettings(_Section):
    section: ClassVar[str] = "server"
    host: str
    port: int
    max_body_bytes: int
    shutdown_timeout_s: float
    max_in_flight: int
    request_timeout_s: float
    trusted_proxies: tuple[str, ...]
    max_connections: int
    header_timeout_s: float

    def __post_init__(self) -> None:
        _check_networks(self._key("trusted_proxies"), self.trusted_proxies)
        self._non_empty("host")
        self._within("port", 1, 65535)
        self._at_least("max_body_bytes", 1)
        self._positive("shutdown_timeout_s")
        self._at_least("max_in_flight", 1)
        self._positive("request_timeout_s")
        self._at_least("max_connections", 1)
        self._positive("header_timeout_s")


@dataclass(frozen=True, repr=False)
class TvSettings(_Section):
    section: ClassVar[str] = "tv"
    adapter: str
    url: str
    secret: Secret
    username: str
    timeout_s: float
    retry_first_s: int
    retry_max_s: int
    retries_max: int
    refresh_min_interval_s: int

    def __post_init__(self) -> None:
        self._one_of("adapter", ("log", "webhook", "ministra"))
        self._http_url("url")
        if self.adapter != "log":
            self._non_empty("url", f"must be set when tv.adapter is {self.adapter}")
        if self.adapter == "webhook":
            self._non_empty("secret", "must be set when tv.adapter is webhook (it signs requests)")
        self._positive("timeout_s")
        self._at_least("retry_first_s", 1)
        # a restarted dispatcher brings retries forward to retry_first_s: resume within 30 s
        _require(self.retry_first_s <= 30, "tv.retry_first_s", f"must be at most 30, got {self.retry_first_s}")
        self._at_least("retry_max_s", self.retry_first_s)
        self._at_least("retries_max", 1)
        self._at_least("refresh_min_interval_s", 0)


@dataclass(frozen=True, repr=False)
class OutboxSettings(_Section):
    section: ClassVar[str] = "outbox"
    poll_s: float
    batch_size: int
    lease_s: int

    def __post_init__(self) -> None:
        self._positive("poll_s")
        self._at_least("batch_size", 1)
        self._within("lease_s", 2, 30)  # a crashed process's events resume within 30 s


@dataclass(frozen=True, repr=False)
class SchedulerSettings(_Section):
    section: ClassVar[str] = "scheduler"
    interval_s: float
    batch_size: int
    reminder_days: tuple[int, ...]
    grace_hours: int
    lease_s: int

    def __post_init__(self) -> None:
        self._positive("interval_s")
        self._at_least("batch_size", 1)
        ok = all(1 <= d <= 60 for d in self.reminder_days) and len(set(self.reminder_days)) == len(self.reminder_days)
        _require(ok, "scheduler.reminder_days", f"must be distinct whole days from 1 to 60, got {list(self.reminder_days)}")
        self._within("grace_hours", 0, 24 * 30)
        self._within("lease_s", 2, 300)  # renewed every lease_s / 3 whatever interval_s is


@dataclass(frozen=True, repr=False)
class UssdSettings(_Section):
    section: ClassVar[str] = "ussd"
    service_code: str
    session_ttl_s: int
    pay_provider: str
    steps_per_minute: int
    log_days: int
    callback_token: Secret
    allow_ips: tuple[str, ...]

    def __post_init__(self) -> None:
        _check_networks(self._key("allow_ips"), self.allow_ips)
        self._non_empty("service_code")
        self._within("session_ttl_s", 30, 3600)
        self._one_of("pay_provider", ("none", "mpesa", "mtn", "airtel"))
        self._at_least("steps_per_minute", 1)
        self._within("log_days", 1, 3660)


@dataclass(frozen=True, repr=False)
class SmsSettings(_Section):
    section: ClassVar[str] = "sms"
    provider: str
    sender: str
    inbound_per_hour: int
    replies_per_hour: int

    def __post_init__(self) -> None:
        self._one_of("provider", ("log", "smpp", "africastalking"))
        self._at_least("inbound_per_hour", 1)
        self._at_least("replies_per_hour", 1)


@dataclass(frozen=True, repr=False)
class DealersSettings(_Section):
    section: ClassVar[str] = "dealers"
    signature_window_s: int
    idempotency_hours: int
    requests_per_minute: int
    secret_key: Secret
    alert_window_minutes: int
    alert_same_amount_cards: int
    alert_night_topups: int
    night_start_hour: int
    night_end_hour: int

    def __post_init__(self) -> None:
        self._within("signature_window_s", 30, 3600)
        self._within("idempotency_hours", 24, 24 * 30)
        self._at_least("requests_per_minute", 1)
        if self.secret_key:
            _require(len(self.secret_key.reveal()) >= 16, "dealers.secret_key", "must be at least 16 characters")
        self._within("alert_window_minutes", 1, 24 * 60)
        self._at_least("alert_same_amount_cards", 2)
        self._at_least("alert_night_topups", 1)
        self._within("night_start_hour", 0, 23)
        self._within("night_end_hour", 0, 24)


@dataclass(frozen=True, repr=False)
class SmppSettings(_Section):
    section: ClassVar[str] = "smpp"
    host: str
    port: int
    system_id: str
    password: Secret
    system_type: str
    source_addr: str
    rate_per_s: int
    window: int
    enquire_link_s: int
    timeout_s: float

    def __post_init__(self) -> None:
        self._within("port", 1, 65535)
        self._at_least("rate_per_s", 1)
        self._at_least("window", 1)
        self._at_least("enquire_link_s", 1)
        self._positive("timeout_s")


@dataclass(frozen=True, repr=False)
class AfricasTalkingSettings(_Section):
    section: ClassVar[str] = "africastalking"
    username: str
    api_key: Secret
    base_url: str
    sender_id: str
    timeout_s: float
    payments_callback_token: Secret
    payments_allow_ips: tuple[str, ...]
    sms_callback_token: Secret
    sms_allow_ips: tuple[str, ...]

    def __post_init__(self) -> None:
        self._non_empty("base_url")
        self._http_url("base_url")
        self._positive("timeout_s")
        _check_networks(self._key("payments_allow_ips"), self.payments_allow_ips)
        _check_networks(self._key("sms_allow_ips"), self.sms_allow_ips)


def _check_networks(key: str, networks: tuple[str, ...]) -> None:
    """Each entry an IP address or network (``196.201.214.0/24``)."""
    import ipaddress

    for net in networks:
        try:
            ipaddress.ip_network(net, strict=False)
        except ValueError:
            raise SettingsError(key, f"not an IP address or network: {net!r}") from None


@dataclass(frozen=True, repr=False)
class PaymentsSettings(_Section):
    """``max_amount``: the largest single payment credited, one ``"CODE AMOUNT"`` per currency
    (``"KES 250000.00"``); a larger one is held in suspense. A currency not listed has no limit.
    ``allow_negative_after_reversal`` and ``hold_cheques``: corrections of payments (customer care)."""

    section: ClassVar[str] = "payments"
    max_amount: tuple[str, ...]
    allow_negative_after_reversal: bool
    hold_cheques: bool

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for text in self.max_amount:
            code, _, value = text.strip().partition(" ")
            ok = bool(_CURRENCY.fullmatch(code)) and bool(_AMOUNT.fullmatch(value.strip())) and code not in seen
            _require(ok, self._key("max_amount"),
                     f'each entry is "CODE AMOUNT" (e.g. "KES 250000.00"), one per currency; got {text!r}')
            seen.add(code)


@dataclass(frozen=True, repr=False)
class MpesaSettings(_Section):
    section: ClassVar[str] = "mpesa"
    base_url: str
    consumer_key: str
    consumer_secret: Secret
    shortcode: str
    passkey: Secret
    callback_url: str
    confirmation_url: str
    validation_url: str
    response_type: str
    callback_token: Secret
    allow_ips: tuple[str, ...]
    timeout_s: float
    query_after_s: float
    poll_s: float
    poll_max_s: float
    polls_max: int

    def __post_init__(self) -> None:
        for url in ("base_url", "callback_url", "confirmation_url", "validation_url"):
            self._http_url(url)
        self._one_of("response_type", ("Completed", "Cancelled"))
        for seconds in ("timeout_s", "query_after_s", "poll_s", "poll_max_s"):
            self._positive(seconds)
        self._at_least("polls_max", 1)
        _check_networks(self._key("allow_ips"), self.allow_ips)


@dataclass(frozen=True, repr=False)
class MtnSettings(_Section):
    section: ClassVar[str] = "mtn"
    base_url: str
    api_user: str
    api_key: Secret
    subscription_key: Secret
    target_environment: str
    currency: str
    callback_url: str
    callback_token: Secret
    allow_ips: tuple[str, ...]
    timeout_s: float
    poll_s: float
    polls_max: int

    def __post_init__(self) -> None:
        self._http_url("base_url")
        self._http_url("callback_url")
        self._positive("timeout_s")
        self._positive("poll_s")
        self._at_least("polls_max", 1)
        _check_networks(self._key("allow_ips"), self.allow_ips)


@dataclass(frozen=True, repr=False)
class AirtelSettings(_Section):
    section: ClassVar[str] = "airtel"
    base_url: str
    client_id: str
    client_secret: Secret
    country: str
    currency: str
    callback_token: Secret
    allow_ips: tuple[str, ...]
    timeout_s: float
    poll_s: float
    polls_max: int

    def __post_init__(self) -> None:
        self._http_url("base_url")
        self._positive("timeout_s")
        self._positive("poll_s")
        self._at_least("polls_max", 1)
        _check_networks(self._key("allow_ips"), self.allow_ips)


@dataclass(frozen=True, repr=False)
class AdminSettings(_Section):
    section: ClassVar[str] = "admin"
    session_hours: int
    login_per_minute: int
    secure_cookie: bool

    def __post_init__(self) -> None:
        self._within("session_hours", 1, 24 * 30)
        self._at_least("login_per_minute", 1)


@dataclass(frozen=True, repr=False)
class SecuritySettings(_Section):
    section: ClassVar[str] = "security"
    lockout_failures: int
    lockout_minutes: int
    lockout_window_minutes: int
    pin_key: Secret
    pin_key_version: int
    pin_key_previous: Secret
    pin_length: int
    pin_spike_per_minute: int

    def __post_init__(self) -> None:
        self._at_least("lockout_failures", 1)
        self._at_least("lockout_minutes", 1)
        self._at_least("lockout_window_minutes", 1)
        self._at_least("pin_key_version", 1)
        self._within("pin_length", 12, 16)
        self._at_least("pin_spike_per_minute", 1)
        if self.pin_key_previous:
            _require(bool(self.pin_key), "security.pin_key_previous", "is set but security.pin_key is not")
            _require(self.pin_key_version >= 2, "security.pin_key_previous",
                     "needs security.pin_key_version >= 2 (the previous key is version - 1)")
            _require(self.pin_key_previous != self.pin_key, "security.pin_key_previous",
                     "must differ from security.pin_key")


@dataclass(frozen=True, repr=False)
class CareSettings(_Section):
    """Customer care: suspensions and the operator's own notices."""

    section: ClassVar[str] = "care"
    credit_suspended_time: bool
    notify_per_second: int

    def __post_init__(self) -> None:
        self._within("notify_per_second", 1, 10_000)


@dataclass(frozen=True, repr=False)
class LoggingSettings(_Section):
    section: ClassVar[str] = "logging"
    level: str
    format: str

    def __post_init__(self) -> None:
        self._one_of("level", ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"))
        self._one_of("format", ("text", "json"))


@dataclass(frozen=True)
class Settings:
    """All settings, one attribute per section; ``currencies`` maps CODE to minor units per TVU."""

    operator: OperatorSettings
    currencies: Mapping[str, int] = field(hash=False)
    database: DatabaseSettings
    redis: RedisSettings
    server: ServerSettings
    tv: TvSettings
    outbox: OutboxSettings
    scheduler: SchedulerSettings
    ussd: UssdSettings
    sms: SmsSettings
    smpp: SmppSettings
    africastalking: AfricasTalkingSettings
    payments: PaymentsSettings
    mpesa: MpesaSettings
    mtn: MtnSettings
    airtel: AirtelSettings
    dealers: DealersSettings
    admin: AdminSettings
    security: SecuritySettings
    logging: LoggingSettings
    care: CareSettings

    def __post_init__(self) -> None:
        for code, rate in self.currencies.items():
            _require(bool(_CURRENCY.fullmatch(code)), f"currencies.{code}",
                     "currency code must be 3 upper-case letters")
            _require(type(rate) is int and rate > 0, f"currencies.{code}",
                     f"must be a positive integer, got {rate!r}")
        _require(self.operator.currency in self.currencies, "operator.currency",
                 f"{self.operator.currency} has no rate in [currencies]")
        self._check_sms_provider()

    def _check_sms_provider(self) -> None:
        if self.sms.provider == "smpp":
            _require(bool(self.smpp.system_id), "smpp.system_id",
                     "must be set when sms.provider is smpp")
        if self.sms.provider == "africastalking":
            _require(bool(self.africastalking.api_key), "africastalking.api_key",
                     "must be set when sms.provider is africastalking")
            _require(bool(self.africastalking.username), "africastalking.username",
                     "must be set when sms.provider is africastalking")

    def replace(self, **overrides: object) -> Settings:
        """A copy with ``section.key`` values changed: ``s.replace(**{"tv.url": "…"})``."""
        return with_overrides(self, overrides)

    def redacted(self) -> dict[str, dict[str, object]]:
        """Plain nested dicts for printing.

        Secrets show as ``***`` (``""`` when unset) and URL passwords are masked.
        """
        out: dict[str, dict[str, object]] = {"currencies": dict(self.currencies)}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, _Section):
                out[f.name] = value.redacted()
        return {f.name: out[f.name] for f in fields(self)}


# ----------------------------------------------------------------------------- schema

def _section_types() -> dict[str, type[_Section]]:
    hints = get_type_hints(Settings)
    return {
        f.name: hints[f.name] for f in fields(Settings)
        if isinstance(hints[f.name], type) and issubclass(hints[f.name], _Section)
    }


_SECTIONS = _section_types()
_FIELD_TYPES: dict[str, dict[str, Any]] = {
    name: {f.name: get_type_hints(cls)[f.name] for f in fields(cls)}
    for name, cls in _SECTIONS.items()
}

_Raw = dict[str, dict[str, object]]  # section -> key -> value of the key's type


def _field_type(section: str, key: str) -> Any:
    """The type of ``section.key``; SettingsError when no such key exists."""
    dotted = f"{section}.{key}"
    if section == "currencies":
        _require(bool(_CURRENCY.fullmatch(key)), dotted,
                 "currency code must be 3 upper-case letters")
        return int
    _require(section in _SECTIONS, section, "unknown section")
    _require(key in _FIELD_TYPES[section], dotted, "unknown key")
    return _FIELD_TYPES[section][key]


# ------------------------------------------------------------------ typed values (TOML)

def _value_int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _value_float(value: object) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def _value_strs(value: object) -> tuple[str, ...] | None:
    ok = isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value)
    return tuple(value) if ok else None  # type: ignore[arg-type]


def _value_ints(value: object) -> tuple[int, ...] | None:
    ok = isinstance(value, (list, tuple)) and all(_value_int(v) is not None for v in value)
    return tuple(value) if ok else None  # type: ignore[arg-type]


def _value_secret(value: object) -> Secret | None:
    if isinstance(value, Secret):
        return value
    return Secret(value) if isinstance(value, str) else None


_FROM_VALUE: dict[Any, tuple[str, Callable[[object], object]]] = {
    int: ("an integer", _value_int),
    float: ("a finite number", _value_float),
    str: ("a string", lambda v: v if isinstance(v, str) else None),
    bool: ("true or false", lambda v: v if isinstance(v, bool) else None),
    _STRS: ("a list of strings", _value_strs),
    _INTS: ("a list of integers", _value_ints),
    Secret: ("a string", _value_secret),
}


def _from_value(dotted: str, kind: Any, value: object) -> object:
    """``value`` (from TOML or code) checked against ``kind``; ints widen to float."""
    expected, convert = _FROM_VALUE[kind]
    converted = convert(value)
    if converted is None:
        got = type(value).__name__ if kind is Secret else repr(value)
        raise SettingsError(dotted, f"expected {expected}, got {got}")
    return converted


# --------------------------------------------------------------- text values (environment)

def _text_int(text: str) -> int | None:
    return int(text) if _ENV_INT.fullmatch(text) else None


def _text_float(text: str) -> float | None:
    value = float(text) if _ENV_FLOAT.fullmatch(text) else math.nan
    return value if math.isfinite(value) else None


def _text_strs(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _text_ints(text: str) -> tuple[int, ...] | None:
    parts = _text_strs(text)
    return tuple(int(p) for p in parts) if all(_ENV_INT.fullmatch(p) for p in parts) else None


_FROM_TEXT: dict[Any, Callable[[str], object]] = {
    int: _text_int,
    float: _text_float,
    str: lambda t: t,
    bool: lambda t: _ENV_BOOL.get(t.lower()),
    _STRS: _text_strs,
    _INTS: _text_ints,
    Secret: Secret,
}


def _from_text(dotted: str, kind: Any, text: str) -> object:
    """An environment variable's text converted to ``kind``."""
    converted = _FROM_TEXT[kind](text)
    if converted is None:
        expected = _FROM_VALUE[kind][0]
        raise SettingsError(dotted, f"expected {expected}, got {text!r}")
    return converted


# ------------------------------------------------------------------------------ layers

def _toml_items(doc: Mapping[str, object], source: str) -> Iterator[tuple[str, object]]:
    """(``section.key``, value) for each key of a parsed TOML document."""
    for section, table in doc.items():
        if not isinstance(table, dict):
            raise SettingsError(section, "expected a [section] table", source)
        for key, value in table.items():
            dotted = f"{section}.{key}"
            try:
                yield dotted, _from_value(dotted, _field_type(section, key), value)
            except SettingsError as exc:
                raise SettingsError(exc.key, exc.problem, source) from None


def _env_key(name: str) -> str:
    """The ``section.key`` that environment variable ``name`` sets."""
    if name in _ALIASES:
        return _ALIASES[name]
    section, sep, key = name[len(_PREFIX):].partition("__")
    if not (sep and section and key):
        raise SettingsError(name, "unknown variable; settings are TVTOPUP_SECTION__KEY")
    section = section.lower()
    return f"{section}.{key if section == 'currencies' else key.lower()}"


def _env_items(environ: Mapping[str, str]) -> Iterator[tuple[str, object, str]]:
    """(``section.key``, value, variable name) for each ``TVTOPUP_*`` variable."""
    seen: dict[str, str] = {}
    names = sorted(n for n in environ if n.startswith(_PREFIX) and n != _CONFIG_VAR)
    for name in names:
        dotted = _env_key(name)
        section, _, key = dotted.partition(".")
        try:
            value = _from_text(dotted, _field_type(section, key), environ[name])
        except SettingsError as exc:
            raise SettingsError(exc.key, exc.problem, name) from None
        if dotted in seen and environ[seen[dotted]] != environ[name]:
            raise SettingsError(dotted, f"set differently by {seen[dotted]} and {name}")
        seen[dotted] = name
        yield dotted, value, name


def _read_defaults() -> dict[str, object]:
    text = resources.files(__package__).joinpath("default.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


def _read_file(path: Path) -> dict[str, object]:
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except OSError as exc:
        raise SettingsError(str(path), f"cannot read config file: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SettingsError(str(path), f"invalid TOML: {exc}") from None


def _config_path(path: str | os.PathLike[str] | None, environ: Mapping[str, str]) -> Path | None:
    if path is not None:
        return Path(path)
    named = environ.get(_CONFIG_VAR, "")
    return Path(named) if named else None


# ------------------------------------------------------------------------------- build

def _build(raw: _Raw, origins: Mapping[str, str]) -> Settings:
    """Frozen Settings from complete raw values; errors name where the value came from."""
    try:
        sections: dict[str, object] = {
            name: cls(**_complete(name, raw.get(name, {}))) for name, cls in _SECTIONS.items()
        }
        currencies = dict(sorted(raw.get("currencies", {}).items()))
        frozen = MappingProxyType(currencies)
        return Settings(currencies=frozen, **sections)  # type: ignore[arg-type]
    except SettingsError as exc:
        if exc.source is None and exc.key in origins:
            raise SettingsError(exc.key, exc.problem, origins[exc.key]) from None
        raise


def _complete(section: str, values: dict[str, object]) -> dict[str, object]:
    missing = sorted(set(_FIELD_TYPES[section]) - set(values))
    if missing:
        raise SettingsError(f"{section}.{missing[0]}", "missing from default.toml")
    return values


def _raw_of(settings: Settings) -> _Raw:
    raw: _Raw = {"currencies": dict(settings.currencies)}
    for name in _SECTIONS:
        section = getattr(settings, name)
        raw[name] = {f.name: getattr(section, f.name) for f in fields(section)}
    return raw


def load_settings(
    path: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Settings from default.toml, then the file (``path`` or ``TVTOPUP_CONFIG``), then ``environ``.

    ``environ`` defaults to ``os.environ``. Raises SettingsError naming the first bad
    key, variable or file.
    """
    env = os.environ if environ is None else environ
    raw: _Raw = {}
    origins: dict[str, str] = {}
    layers = [("default.toml", _read_defaults())]
    file = _config_path(path, env)
    if file is not None:
        layers.append((str(file), _read_file(file)))
    for source, doc in layers:
        for dotted, value in _toml_items(doc, source):
            _put(raw, origins, dotted, value, source)
    for dotted, value, name in _env_items(env):
        _put(raw, origins, dotted, value, name)
    return _build(raw, origins)


def _put(raw: _Raw, origins: dict[str, str], dotted: str, value: object, source: str) -> None:
    section, _, key = dotted.partition(".")
    raw.setdefault(section, {})[key] = value
    origins[dotted] = source


def with_overrides(settings: Settings, overrides: Mapping[str, object]) -> Settings:
    """A copy of ``settings`` with ``{"section.key": value}`` applied, validated like a file.

    Values are Python values of the key's type (as in TOML; a Secret may be a str).
    """
    raw = _raw_of(settings)
    origins: dict[str, str] = {}
    for dotted, value in overrides.items():
        section, _, key = dotted.partition(".")
        checked = _from_value(dotted, _field_type(section, key), value)
        _put(raw, origins, dotted, checked, "overrides")
    return _build(raw, origins)
