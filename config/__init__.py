"""Configuration: frozen settings from defaults, a TOML file and TVTOPUP_* variables."""

from config.settings import (
    AfricasTalkingSettings,
    DatabaseSettings,
    LoggingSettings,
    OperatorSettings,
    OutboxSettings,
    RedisSettings,
    Secret,
    SecuritySettings,
    ServerSettings,
    Settings,
    SettingsError,
    SmppSettings,
    SmsSettings,
    TvSettings,
    load_settings,
    with_overrides,
)

__all__ = [
    "AfricasTalkingSettings",
    "DatabaseSettings",
    "LoggingSettings",
    "OperatorSettings",
    "OutboxSettings",
    "RedisSettings",
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
