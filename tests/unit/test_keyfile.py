"""The key file of unset keys (``config.keyfile``): where it is, made once, private, checked."""
from __future__ import annotations

import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from config.keyfile import key_file_path, read_or_create, with_generated_keys
from config.settings import SettingsError, load_settings


@pytest.mark.parametrize("url, expected", [
    ("sqlite+aiosqlite:///./tvtopup.db", Path("tvtopup.keys")),
    ("sqlite+aiosqlite:////srv/tv/billing.sqlite", Path("/srv/tv/billing.keys")),
    ("sqlite+aiosqlite:////srv/tv/odd.keys", Path("/srv/tv/odd.keys.keys")),
    ("sqlite+aiosqlite://", None),
    ("sqlite+aiosqlite:///:memory:", None),
    ("postgresql+asyncpg://tvtopup@db/tvtopup", None),
])
def test_the_key_file_sits_beside_a_sqlite_file_only(url, expected):
    assert key_file_path(url) == expected


def test_commands_starting_at_once_agree_on_one_private_file(tmp_path):
    path = tmp_path / "tvtopup.keys"
    with ThreadPoolExecutor(8) as pool:
        made = list(pool.map(lambda _: read_or_create(path), range(16)))
    assert all(keys == made[0] for keys in made) and len(set(made[0].values())) == 2
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["tvtopup.keys"]  # no temporary file left


def test_a_configured_key_wins_and_the_sources_say_so(tmp_path):
    settings = load_settings(environ={"TVTOPUP_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/t.db",
                                      "TVTOPUP_SECURITY__PIN_KEY": "configured-pin-key-0123456789"})
    filled, sources = with_generated_keys(settings)
    assert filled.security.pin_key.reveal() == "configured-pin-key-0123456789"
    assert len(filled.dealers.secret_key.reveal()) == 64
    assert sources == {"security.pin_key": "configuration", "dealers.secret_key": f"key file {tmp_path}/t.keys"}


def test_with_postgresql_nothing_is_generated(tmp_path):
    settings = load_settings(environ={"TVTOPUP_DATABASE_URL": "postgresql+asyncpg://u@127.0.0.1/x"})
    filled, sources = with_generated_keys(settings)
    assert filled is settings and set(sources.values()) == {"not set"}


@pytest.mark.parametrize("text", ["not toml [", "[security]\npin_key = 'short'\n", "[security]\npin_key = 1\n"])
def test_a_damaged_key_file_is_refused_by_name(tmp_path, text):
    path = tmp_path / "tvtopup.keys"
    path.write_text(text)
    path.chmod(0o600)
    with pytest.raises(SettingsError, match="tvtopup.keys"):
        read_or_create(path)
