"""Screen texts per language, one TOML catalogue per language (``en.toml``, ``fr.toml``, ...).

A text is a template with ``{names}`` filled from the session (card, package, wallet,
...). A key missing from a language falls back to English; a name with no value shows
as ``-``. Refusals (``{refusal}``) come from :mod:`tv_notify.texts`, shared with SMS.
Catalogues are read once, on first use.
"""
from __future__ import annotations

import functools
import string
import tomllib
from importlib import resources
from typing import Mapping

from tv_notify.texts import refusal

FALLBACK = "en"
_FORMATTER = string.Formatter()


@functools.lru_cache(maxsize=None)
def catalogue(lang: str) -> Mapping[str, str]:
    """The texts of ``lang`` (empty when there is no catalogue for it)."""
    path = resources.files(__package__).joinpath(f"{lang}.toml")
    if not path.is_file():
        return {}
    return tomllib.loads(path.read_text(encoding="utf-8"))


def languages() -> tuple[str, ...]:
    return tuple(sorted(p.name[:-5] for p in resources.files(__package__).iterdir() if p.name.endswith(".toml")))


class _Values(dict):
    def __missing__(self, key: str) -> str:
        return "-"


def render(lang: str, key: str, values: Mapping[str, str]) -> str:
    """The text ``key`` in ``lang`` with ``values`` filled in."""
    template = catalogue(lang).get(key) or catalogue(FALLBACK)[key]
    filled = _Values(values)
    if "outcome" in values and "{refusal}" in template:
        filled["refusal"] = refusal(values["outcome"], lang)
    return _FORMATTER.vformat(template, (), filled)


__all__ = ["render", "catalogue", "languages"]
