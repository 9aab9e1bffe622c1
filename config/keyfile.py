"""Keys generated on first use: ``security.pin_key`` and ``dealers.secret_key`` when unset.

So that a new operator's ``tvtopup cards generate`` followed by ``tvtopup serve`` redeems
the printed PINs with no setup, a key left empty in the configuration is taken from a
*key file* beside the SQLite database (``tvtopup.db`` -> ``tvtopup.keys``), which the first
command to need it creates with random keys, mode 0600, atomically (of two commands
starting at once, both end up with the same file). Every later command reads it, so all
agree. The file belongs with the database: a PIN hash or a dealer's secret is only as good
as the key, so back both up together.

With PostgreSQL (or an in-memory SQLite) nothing is generated: the database lives
elsewhere and may be shared by several hosts, and a key kept on one of them would be
lost with it or differ between them. An unset key stays unset there: ``cards generate``
and ``dealer add`` refuse, scratch-card PINs and dealer calls are refused, and ``serve``
warns. Production sets both keys explicitly (environment or config file).

A key configured explicitly always wins over the file. A key file that others may read
(any group or other permission bit) is refused, as ``ssh`` refuses a private key.
"""
from __future__ import annotations

import os
import secrets
import tomllib
from pathlib import Path

from sqlalchemy.engine import make_url

from config.settings import Settings, SettingsError

# (setting, section and key in the file); the file always holds both
KEYS = ("security.pin_key", "dealers.secret_key")
KEY_BYTES = 32
SUFFIX = ".keys"
HEADER = ("# tvtopup's keys, generated on first use because the configuration sets none.\n"
          "# Keep this file private (mode 0600) and back it up with the database: without it\n"
          "# the printed scratch-card PINs and the dealers' API secrets no longer work.\n"
          "# In production set security.pin_key and dealers.secret_key explicitly instead.\n")


def sqlite_path(database_url: str) -> Path | None:
    """The file of a SQLite database URL; None for an in-memory one or another database."""
    try:
        url = make_url(database_url)
    except Exception:  # noqa: BLE001 - a malformed URL fails later, with its own message
        return None
    database = url.database or ""
    if url.get_backend_name() != "sqlite" or database in ("", ":memory:") or database.startswith("file:"):
        return None
    return Path(database)


def key_file_path(database_url: str) -> Path | None:
    """The key file of a SQLite database file (same name, ``.keys``); None for other databases."""
    path = sqlite_path(database_url)
    if path is None:
        return None
    return path.with_name(path.name + SUFFIX) if path.suffix == SUFFIX else path.with_suffix(SUFFIX)


def with_generated_keys(settings: Settings) -> tuple[Settings, dict[str, str]]:
    """``settings`` with unset keys taken from the key file (made if need be), and where
    each key came from: ``"configuration"``, ``"key file PATH"`` or ``"not set"``."""
    unset = [name for name in KEYS if not _value(settings, name)]
    sources = {name: "configuration" for name in KEYS}
    if not unset:
        return settings, sources
    path = key_file_path(settings.database.url)
    if path is None:
        return settings, {**sources, **{name: "not set" for name in unset}}
    keys = read_or_create(path)
    sources.update({name: f"key file {path}" for name in unset})
    return settings.replace(**{name: keys[name] for name in unset}), sources


def read_or_create(path: Path) -> dict[str, str]:
    """The keys in ``path``, made first (random, mode 0600) when it does not exist."""
    if not path.exists():
        _create(path)
    return _read(path)


def _value(settings: Settings, dotted: str) -> str:
    section, _, key = dotted.partition(".")
    return getattr(getattr(settings, section), key).reveal()


def _create(path: Path) -> None:
    if not path.parent.is_dir():
        raise SettingsError(str(path.parent), "the database's directory does not exist")
    text = HEADER + "".join(f'\n[{name.partition(".")[0]}]\n{name.partition(".")[2]} = "{secrets.token_hex(KEY_BYTES)}"\n'
                            for name in KEYS)
    temp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(temp, path)  # never replaces: a file made meanwhile by another command wins
        except FileExistsError:
            pass
    except OSError as exc:
        raise SettingsError(str(path), f"cannot create the key file: {exc.strerror or exc}") from None
    finally:
        temp.unlink(missing_ok=True)


def _read(path: Path) -> dict[str, str]:
    try:
        mode = path.stat().st_mode
        if mode & 0o077:
            raise SettingsError(str(path), f"others may read this key file (mode {mode & 0o777:o}): chmod 600 it")
        doc = tomllib.loads(path.read_text(encoding="ascii"))
    except OSError as exc:
        raise SettingsError(str(path), f"cannot read the key file: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SettingsError(str(path), f"the key file is not valid TOML: {exc}") from None
    keys = {}
    for name in KEYS:
        section, _, key = name.partition(".")
        value = doc.get(section, {}).get(key) if isinstance(doc.get(section), dict) else None
        if not isinstance(value, str) or len(value) < 32:
            raise SettingsError(str(path), f"the key file has no {name} of at least 32 characters")
        keys[name] = value
    return keys


__all__ = ["KEYS", "key_file_path", "read_or_create", "sqlite_path", "with_generated_keys"]
