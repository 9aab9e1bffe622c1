"""The aggregator's cumulative ``text`` turned into the inputs a hop adds."""
from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from gateway.ussd.service import new_inputs

INPUT = st.text(alphabet="0123456789#", min_size=1, max_size=12)  # an empty answer looks like a retry


@given(st.lists(INPUT, min_size=1, max_size=8))
def test_each_hop_adds_exactly_its_input(inputs: list[str]) -> None:
    seen = None
    assert new_inputs(None, "") == []
    seen = ""
    for i, value in enumerate(inputs):
        text = "*".join(inputs[: i + 1])
        assert new_inputs(seen, text) == [value]
        assert new_inputs(text, text) == []  # a retried hop adds nothing
        seen = text


def test_a_text_that_rewrites_history_is_refused() -> None:
    assert new_inputs("3*1", "3*2*1") is None
    assert new_inputs("3*1", "3") is None
    assert new_inputs("3*1", "3*12") is None
    assert new_inputs("3*1", "3*1*1*1") == ["1", "1"]
    assert new_inputs(None, "3*1") == ["3", "1"]  # a shortcut dial: several inputs at once
