"""Settings loader: layers, environment rules, validation and secret hiding."""

from __future__ import annotations

import dataclasses
import pickle
from pathlib import Path

import pytest

from config.settings import Secret, Settings, SettingsError, load_settings, with_overrides

TV_SECRET = "s3cr3t-tv-hmac-key"
PIN_KEY = "pin-key-do-not-print"


def write(tmp_path: Path, text: str, name: str = "tvtopup.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def fails(match: str, **kwargs: object) -> SettingsError:
    with pytest.raises(SettingsError, match=match) as info:
        load_settings(**kwargs)  # type: ignore[arg-type]
    return info.value


# ------------------------------------------------------------------------- defaults

def test_defaults_load_with_no_configuration() -> None:
    s = load_settings(environ={})
    assert s.operator.region == "KE"
    assert s.operator.currency == "KES"
    assert s.operator.languages == ("en", "fr", "sw")
    assert s.currencies == {"KES": 100}
    assert s.database.url == "sqlite+aiosqlite:///./tvtopup.db"
    assert s.database.sqlite_synchronous == "FULL"
    assert s.redis.url == ""
    assert s.server.port == 8080
    assert s.server.shutdown_timeout_s == 10.0
    assert s.tv.adapter == "log"
    assert (s.tv.retry_first_s, s.tv.retry_max_s, s.tv.retries_max) == (2, 60, 20)
    assert s.tv.secret == Secret("") and not s.tv.secret
    assert s.sms.provider == "log"
    assert s.smpp.port == 2775
    assert (s.security.lockout_failures, s.security.lockout_minutes) == (5, 60)
    assert (s.logging.level, s.logging.format) == ("INFO", "text")


def test_defaults_have_the_documented_types() -> None:
    s = load_settings(environ={})
    assert isinstance(s.tv.timeout_s, float)
    assert isinstance(s.outbox.poll_s, float)
    assert isinstance(s.tv.secret, Secret)
    assert isinstance(s.smpp.password, Secret)
    assert isinstance(s.africastalking.api_key, Secret)
    assert isinstance(s.security.pin_key, Secret)


# ----------------------------------------------------------------------------- file

def test_file_overrides_defaults_and_keeps_the_rest(tmp_path: Path) -> None:
    path = write(tmp_path, """
[operator]
region = "UG"
currency = "UGX"

[currencies]
UGX = 1

[tv]
adapter = "webhook"
url = "https://tv.example/events"
secret = "s3cr3t-tv-hmac-key"
timeout_s = 3
""")
    s = load_settings(path, environ={})
    assert (s.operator.region, s.operator.currency) == ("UG", "UGX")
    assert s.currencies == {"KES": 100, "UGX": 1}
    assert s.tv.url == "https://tv.example/events"
    assert s.tv.secret.reveal() == TV_SECRET
    assert s.tv.timeout_s == 3.0 and isinstance(s.tv.timeout_s, float)
    assert s.tv.retry_max_s == 60


def test_file_named_by_tvtopup_config(tmp_path: Path) -> None:
    path = write(tmp_path, "[server]\nport = 9000\n")
    s = load_settings(environ={"TVTOPUP_CONFIG": str(path)})
    assert s.server.port == 9000


def test_explicit_path_wins_over_tvtopup_config(tmp_path: Path) -> None:
    chosen = write(tmp_path, "[server]\nport = 9001\n", "a.toml")
    other = write(tmp_path, "[server]\nport = 9002\n", "b.toml")
    s = load_settings(chosen, environ={"TVTOPUP_CONFIG": str(other)})
    assert s.server.port == 9001


def test_missing_file_fails_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"
    err = fails("nope.toml", path=path, environ={})
    assert err.key == str(path)


def test_missing_file_from_tvtopup_config_fails_naming_it(tmp_path: Path) -> None:
    fails("nope.toml", environ={"TVTOPUP_CONFIG": str(tmp_path / "nope.toml")})


def test_invalid_toml_fails_naming_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[server\nport = \n", "broken.toml")
    fails("broken.toml.*invalid TOML", path=path, environ={})


def test_unknown_key_in_file_fails_naming_it(tmp_path: Path) -> None:
    path = write(tmp_path, "[tv]\nurl_typo = 'x'\n")
    err = fails(r"tv\.url_typo: unknown key", path=path, environ={})
    assert err.source == str(path)


def test_unknown_section_in_file_fails_naming_it(tmp_path: Path) -> None:
    path = write(tmp_path, "[televison]\nurl = 'x'\n")
    fails("televison: unknown section", path=path, environ={})


def test_top_level_key_in_file_fails(tmp_path: Path) -> None:
    path = write(tmp_path, "port = 8080\n")
    fails("port: expected a", path=path, environ={})


@pytest.mark.parametrize(("line", "key"), [
    ("[tv]\nretry_first_s = 2.5", "tv.retry_first_s"),
    ("[server]\nport = true", "server.port"),
    ("[server]\nport = '8080'", "server.port"),
    ("[tv]\nurl = 5", "tv.url"),
    ("[operator]\nlanguages = 'en'", "operator.languages"),
    ("[operator]\nlanguages = ['en', 2]", "operator.languages"),
    ("[outbox]\npoll_s = 'fast'", "outbox.poll_s"),
    ("[outbox]\npoll_s = nan", "outbox.poll_s"),
    ("[currencies]\nUGX = 1.5", "currencies.UGX"),
])
def test_wrong_type_in_file_fails_naming_the_key(tmp_path: Path, line: str, key: str) -> None:
    path = write(tmp_path, line + "\n")
    err = fails(key.replace(".", r"\.") + ": expected", path=path, environ={})
    assert err.key == key


def test_secret_of_wrong_type_does_not_echo_the_value(tmp_path: Path) -> None:
    path = write(tmp_path, "[security]\npin_key = 123456789\n")
    err = fails(r"security\.pin_key: expected a string, got int", path=path, environ={})
    assert "123456789" not in str(err)


def test_float_field_accepts_int_in_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[server]\nshutdown_timeout_s = 30\n")
    assert load_settings(path, environ={}).server.shutdown_timeout_s == 30.0


# ---------------------------------------------------------------------- environment

def test_env_sets_section_key() -> None:
    s = load_settings(environ={
        "TVTOPUP_TV__URL": "https://tv.example/hook",
        "TVTOPUP_TV__ADAPTER": "webhook",
        "TVTOPUP_TV__SECRET": TV_SECRET,
        "TVTOPUP_SERVER__PORT": "9090",
        "TVTOPUP_OUTBOX__POLL_S": "0.5",
        "TVTOPUP_OPERATOR__LANGUAGES": "en, sw",
        "TVTOPUP_OPERATOR__DEFAULT_LANG": "sw",
    })
    assert s.tv.url == "https://tv.example/hook"
    assert s.tv.secret.reveal() == TV_SECRET
    assert s.server.port == 9090
    assert s.outbox.poll_s == 0.5
    assert s.operator.languages == ("en", "sw")
    assert s.operator.default_lang == "sw"


def test_env_section_and_key_are_case_insensitive_outside_currencies() -> None:
    s = load_settings(environ={"TVTOPUP_server__Port": "9091"})
    assert s.server.port == 9091


def test_env_aliases() -> None:
    s = load_settings(environ={
        "TVTOPUP_DATABASE_URL": "postgresql+asyncpg://app:pw@db/tvtopup",
        "TVTOPUP_REDIS_URL": "redis://cache:6379/0",
    })
    assert s.database.url == "postgresql+asyncpg://app:pw@db/tvtopup"
    assert s.redis.url == "redis://cache:6379/0"


def test_alias_and_canonical_variable_disagreeing_fails() -> None:
    fails("database.url: set differently", environ={
        "TVTOPUP_DATABASE_URL": "sqlite+aiosqlite:///a.db",
        "TVTOPUP_DATABASE__URL": "sqlite+aiosqlite:///b.db",
    })


def test_env_currency_keeps_key_case() -> None:
    s = load_settings(environ={"TVTOPUP_CURRENCIES__UGX": "1", "TVTOPUP_CURRENCIES__KES": "50"})
    assert dict(s.currencies) == {"KES": 50, "UGX": 1}


def test_env_lower_case_currency_fails() -> None:
    err = fails("currencies.kes: currency code must be 3 upper-case letters",
                environ={"TVTOPUP_CURRENCIES__kes": "100"})
    assert err.source == "TVTOPUP_CURRENCIES__kes"


def test_env_zero_currency_rate_fails() -> None:
    fails(r"currencies\.KES: must be a positive integer",
          environ={"TVTOPUP_CURRENCIES__KES": "0"})


@pytest.mark.parametrize("name", ["TVTOPUP_TV__URL_TYPO", "TVTOPUP_SERVER__HOSTNAME"])
def test_unknown_key_in_env_fails_naming_it(name: str) -> None:
    err = fails("unknown key", environ={name: "x"})
    assert err.source == name


@pytest.mark.parametrize(
    "name", ["TVTOPUP_PORT", "TVTOPUP_DEBUG", "TVTOPUP_", "TVTOPUP_TV__", "TVTOPUP___URL"])
def test_unknown_variable_fails_naming_it(name: str) -> None:
    fails(f"{name}: unknown variable", environ={name: "1"})


def test_unknown_section_in_env_fails_naming_it() -> None:
    fails("televison: unknown section", environ={"TVTOPUP_TELEVISON__URL": "x"})


def test_unrelated_variables_are_ignored() -> None:
    assert load_settings(environ={"PATH": "/bin", "TVTOPUPX": "1"}).server.port == 8080


@pytest.mark.parametrize(("name", "value", "key"), [
    ("TVTOPUP_SERVER__PORT", "80a", "server.port"),
    ("TVTOPUP_SERVER__PORT", "8_080", "server.port"),
    ("TVTOPUP_SERVER__PORT", "", "server.port"),
    ("TVTOPUP_TV__RETRY_FIRST_S", "2.0", "tv.retry_first_s"),
    ("TVTOPUP_TV__TIMEOUT_S", "fast", "tv.timeout_s"),
    ("TVTOPUP_TV__TIMEOUT_S", "inf", "tv.timeout_s"),
    ("TVTOPUP_TV__TIMEOUT_S", "1e999", "tv.timeout_s"),
    ("TVTOPUP_CURRENCIES__UGX", "1.5", "currencies.UGX"),
])
def test_wrong_type_in_env_fails_naming_the_key(name: str, value: str, key: str) -> None:
    err = fails(key.replace(".", r"\.") + ": expected", environ={name: value})
    assert (err.key, err.source) == (key, name)


def test_env_int_accepts_sign_and_float_accepts_int_text() -> None:
    s = load_settings(environ={"TVTOPUP_SERVER__PORT": "+8081", "TVTOPUP_TV__TIMEOUT_S": "7"})
    assert s.server.port == 8081
    assert s.tv.timeout_s == 7.0


def test_env_negative_int_parses_then_fails_validation() -> None:
    fails(r"tv\.retry_first_s: must be at least 1, got -1",
          environ={"TVTOPUP_TV__RETRY_FIRST_S": "-1"})


def test_empty_redis_alias_means_not_used() -> None:
    assert load_settings(environ={"TVTOPUP_REDIS_URL": ""}).redis.url == ""


# ------------------------------------------------------------------------ precedence

def test_env_beats_file_beats_defaults(tmp_path: Path) -> None:
    path = write(tmp_path, "[server]\nport = 9000\nhost = '0.0.0.0'\n")
    s = load_settings(path, environ={"TVTOPUP_SERVER__PORT": "9500"})
    assert s.server.port == 9500
    assert s.server.host == "0.0.0.0"
    assert s.server.max_body_bytes == 65536


def test_env_alias_beats_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[database]\nurl = 'sqlite+aiosqlite:///file.db'\n")
    s = load_settings(path, environ={"TVTOPUP_DATABASE_URL": "sqlite+aiosqlite:///env.db"})
    assert s.database.url == "sqlite+aiosqlite:///env.db"


def test_validation_error_names_the_layer_that_set_the_value(tmp_path: Path) -> None:
    path = write(tmp_path, "[server]\nport = 70000\n")
    err = fails(r"server\.port: must be between 1 and 65535", path=path, environ={})
    assert err.source == str(path)


# ------------------------------------------------------------------------ validation

@pytest.mark.parametrize(("name", "value", "key"), [
    ("TVTOPUP_TV__ADAPTER", "smoke-signals", "tv.adapter"),
    ("TVTOPUP_SMS__PROVIDER", "pigeon", "sms.provider"),
    ("TVTOPUP_LOGGING__FORMAT", "xml", "logging.format"),
    ("TVTOPUP_LOGGING__LEVEL", "LOUD", "logging.level"),
    ("TVTOPUP_DATABASE__SQLITE_SYNCHRONOUS", "SOMETIMES", "database.sqlite_synchronous"),
])
def test_bad_choice_fails_listing_the_choices(name: str, value: str, key: str) -> None:
    err = fails(key.replace(".", r"\.") + ": must be one of", environ={name: value})
    assert value in str(err)


@pytest.mark.parametrize(("env", "key"), [
    ({"TVTOPUP_SERVER__PORT": "0"}, "server.port"),
    ({"TVTOPUP_SMPP__PORT": "65536"}, "smpp.port"),
    ({"TVTOPUP_SMPP__RATE_PER_S": "0"}, "smpp.rate_per_s"),
    ({"TVTOPUP_SECURITY__LOCKOUT_FAILURES": "0"}, "security.lockout_failures"),
    ({"TVTOPUP_OPERATOR__CARD_MIN_LENGTH": "3"}, "operator.card_min_length"),
    ({"TVTOPUP_OPERATOR__CARD_MAX_LENGTH": "21"}, "operator.card_max_length"),
    ({"TVTOPUP_OPERATOR__CARD_MIN_LENGTH": "12", "TVTOPUP_OPERATOR__CARD_MAX_LENGTH": "10"},
     "operator.card_max_length"),
    ({"TVTOPUP_OPERATOR__REGION": "ke"}, "operator.region"),
    ({"TVTOPUP_OPERATOR__CURRENCY": "KESH"}, "operator.currency"),
    ({"TVTOPUP_OPERATOR__DEFAULT_LANG": "de"}, "operator.default_lang"),
    ({"TVTOPUP_OPERATOR__TIMEZONE": "Mars/Olympus"}, "operator.timezone"),
    ({"TVTOPUP_TV__RETRY_MAX_S": "1"}, "tv.retry_max_s"),
    ({"TVTOPUP_TV__TIMEOUT_S": "0"}, "tv.timeout_s"),
    ({"TVTOPUP_REDIS_URL": "http://cache"}, "redis.url"),
    ({"TVTOPUP_TV__ADAPTER": "webhook"}, "tv.url"),
    ({"TVTOPUP_TV__ADAPTER": "webhook", "TVTOPUP_TV__URL": "https://tv.example"}, "tv.secret"),
    ({"TVTOPUP_SMS__PROVIDER": "smpp"}, "smpp.system_id"),
    ({"TVTOPUP_SMS__PROVIDER": "africastalking"}, "africastalking.api_key"),
])
def test_out_of_range_fails_naming_the_key(env: dict[str, str], key: str) -> None:
    err = fails(key.replace(".", r"\.") + ": ", environ=env)
    assert err.key == key


def test_operator_currency_without_rate_fails() -> None:
    err = fails(r"operator\.currency: UGX has no rate in \[currencies\]",
                environ={"TVTOPUP_OPERATOR__CURRENCY": "UGX"})
    assert err.source == "TVTOPUP_OPERATOR__CURRENCY"


def test_operator_currency_with_rate_from_file_loads(tmp_path: Path) -> None:
    path = write(tmp_path, "[currencies]\nXOF = 1\n")
    s = load_settings(path, environ={"TVTOPUP_OPERATOR__CURRENCY": "XOF"})
    assert s.currencies["XOF"] == 1


def test_bad_currency_code_in_file_fails(tmp_path: Path) -> None:
    path = write(tmp_path, "[currencies]\nShillings = 100\n")
    fails("currencies.Shillings: currency code", path=path, environ={})


# ---------------------------------------------------------------------------- secrets

def configured_with_secrets() -> Settings:
    return load_settings(environ={
        "TVTOPUP_TV__ADAPTER": "webhook",
        "TVTOPUP_TV__URL": "https://tv.example/hook",
        "TVTOPUP_TV__SECRET": TV_SECRET,
        "TVTOPUP_SECURITY__PIN_KEY": PIN_KEY,
        "TVTOPUP_SMPP__PASSWORD": "smpp-pass-xyz",
        "TVTOPUP_AFRICASTALKING__API_KEY": "at-api-key-xyz",
        "TVTOPUP_DATABASE_URL": "postgresql+asyncpg://app:db-pass-xyz@db/tvtopup",
        "TVTOPUP_REDIS_URL": "redis://:redis-pass-xyz@cache:6379/0",
    })


SECRETS = [TV_SECRET, PIN_KEY, "smpp-pass-xyz", "at-api-key-xyz", "db-pass-xyz", "redis-pass-xyz"]


def test_secrets_never_printed() -> None:
    s = configured_with_secrets()
    shown = [repr(s), str(s), repr(s.tv), str(s.security), repr(s.redacted()), str(s.database)]
    for text in shown:
        for secret in SECRETS:
            assert secret not in text
    assert "Secret('**********')" in repr(s.tv)


def test_secrets_are_still_usable() -> None:
    s = configured_with_secrets()
    assert s.tv.secret.reveal() == TV_SECRET
    assert s.security.pin_key.reveal() == PIN_KEY
    assert s.database.url == "postgresql+asyncpg://app:db-pass-xyz@db/tvtopup"


def test_redacted_is_plain_nested_dicts() -> None:
    r = configured_with_secrets().redacted()
    assert r["tv"]["secret"] == "***"
    assert r["smpp"]["password"] == "***"
    assert r["africastalking"]["api_key"] == "***"
    assert r["database"]["url"] == "postgresql+asyncpg://app:***@db/tvtopup"
    assert r["redis"]["url"] == "redis://:***@cache:6379/0"
    assert r["currencies"] == {"KES": 100}
    assert r["operator"]["languages"] == ["en", "fr", "sw"]
    assert list(r) == ["operator", "currencies", "database", "redis", "server", "tv", "outbox", "scheduler",
                       "ussd", "sms", "smpp", "africastalking", "payments", "mpesa", "mtn", "airtel", "dealers", "admin", "security",
                       "logging", "care"]


def test_secret_value_semantics() -> None:
    assert repr(Secret("x")) == str(Secret("x")) == "Secret('**********')"
    assert repr(Secret("")) == "Secret('')"
    assert Secret("a") == Secret("a") and Secret("a") != Secret("b")
    assert Secret("a") != "a"
    assert hash(Secret("a")) == hash(Secret("a"))
    assert bool(Secret("a")) and not Secret("")
    assert f"{Secret('a')}" == "Secret('**********')"
    with pytest.raises(AttributeError):
        Secret("a")._value = "b"  # type: ignore[misc]
    assert pickle.loads(pickle.dumps(Secret("a"))) == Secret("a")


def test_asdict_of_a_section_does_not_unwrap_secrets() -> None:
    as_dict = dataclasses.asdict(configured_with_secrets().tv)
    assert TV_SECRET not in repr(as_dict)


# ---------------------------------------------------------------------------- frozen

def test_settings_are_frozen() -> None:
    s = load_settings(environ={})
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.server = s.server  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.server.port = 1  # type: ignore[misc]
    with pytest.raises(TypeError):
        s.currencies["UGX"] = 1  # type: ignore[index]
    assert hash(s) == hash(load_settings(environ={}))


# ------------------------------------------------------------------------- overrides

def test_replace_returns_a_validated_copy() -> None:
    s = load_settings(environ={})
    t = s.replace(**{"server.port": 9999, "tv.retry_first_s": 1, "currencies.UGX": 1})
    assert (t.server.port, t.tv.retry_first_s, t.currencies["UGX"]) == (9999, 1, 1)
    assert s.server.port == 8080 and "UGX" not in s.currencies
    assert t != s


def test_with_overrides_accepts_secret_as_str_or_secret() -> None:
    s = load_settings(environ={})
    t = with_overrides(s, {"tv.adapter": "webhook", "tv.url": "https://tv.example",
                           "tv.secret": "k1", "security.pin_key": Secret("k2")})
    assert t.tv.secret.reveal() == "k1"
    assert t.security.pin_key.reveal() == "k2"


@pytest.mark.parametrize(("overrides", "match"), [
    ({"server.port": "9999"}, r"server\.port: expected an integer"),
    ({"server.prot": 1}, r"server\.prot: unknown key"),
    ({"tv.adapter": "nope"}, r"tv\.adapter: must be one of"),
    ({"operator.currency": "UGX"}, r"operator\.currency: UGX has no rate"),
])
def test_overrides_go_through_validation(overrides: dict[str, object], match: str) -> None:
    with pytest.raises(SettingsError, match=match):
        with_overrides(load_settings(environ={}), overrides)
