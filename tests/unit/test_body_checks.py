"""The middleware's body checks, without a server: charsets and JSON depth."""
from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.middleware import JSON_DEPTH_MAX, charset_refusal, json_depth, nesting_refusal


@pytest.mark.parametrize("charset, refused", [(None, False), ("utf-8", False), ("UTF-8", False),
                                              ("latin-1", False), ("x-no-such", True), ("utf-99", True)])
def test_a_charset_without_a_codec_is_refused(charset, refused):
    assert bool(charset_refusal(charset)) is refused


def test_brackets_inside_strings_do_not_count():
    assert json_depth(b'{"text": "[[[[{{{{\\"[[[["}') == 1
    assert nesting_refusal(json.dumps({"t": "[" * 500}).encode()) == ""
    assert nesting_refusal(b"text=" + b"[" * 500) == ""  # a form is no JSON
    assert "nested" in nesting_refusal(b" " + b"[" * (JSON_DEPTH_MAX + 1))


@given(st.recursive(st.none() | st.integers() | st.text(max_size=5),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
                    max_leaves=20))
def test_depth_matches_the_structure(doc):
    def depth(value) -> int:
        if isinstance(value, list):
            return 1 + max((depth(v) for v in value), default=0)
        if isinstance(value, dict):
            return 1 + max((depth(v) for v in value.values()), default=0)
        return 0

    assert json_depth(json.dumps(doc).encode()) == depth(doc)
