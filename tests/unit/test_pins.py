"""Serials and PINs: check digits catch typos, PINs are unique and independent, hashes are keyed."""
from __future__ import annotations

import random

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from billing_core import pins
from billing_core.errors import InvalidInput
from billing_core.pins import PinKey, PinKeyMissing, PinMalformed, PinPolicy

digit_strings = st.text(alphabet="0123456789", min_size=11, max_size=15)


def with_check(body: str) -> str:
    return body + str(pins.damm(body))


@given(digit_strings, st.data())
def test_any_single_digit_typo_is_caught(body: str, data) -> None:
    number = with_check(body)
    at = data.draw(st.integers(0, len(number) - 1))
    typo = data.draw(st.sampled_from([d for d in "0123456789" if d != number[at]]))
    assert pins.damm_ok(number)
    assert not pins.damm_ok(number[:at] + typo + number[at + 1:])


@given(digit_strings, st.data())
def test_any_adjacent_transposition_is_caught(body: str, data) -> None:
    number = with_check(body)
    at = data.draw(st.integers(0, len(number) - 2))
    assume(number[at] != number[at + 1])
    swapped = number[:at] + number[at + 1] + number[at] + number[at + 2:]
    assert not pins.damm_ok(swapped)


def test_damm_reference_value() -> None:
    assert pins.damm("572") == 4  # the worked example of Damm's algorithm
    assert pins.damm_ok("5724") and not pins.damm_ok("5723")


@given(st.integers(1, pins.BATCH_MAX), st.integers(1, pins.SEQ_MAX))
def test_serial_round_trips_and_is_checked(batch_no: int, seq: int) -> None:
    serial = pins.serial(batch_no, seq)
    assert len(serial) == pins.SERIAL_LENGTH and serial.isdigit()
    assert pins.parse_serial(serial) == (batch_no, seq)
    broken = serial[:-1] + str((int(serial[-1]) + 1) % 10)
    with pytest.raises(InvalidInput, match="check digit"):
        pins.parse_serial(broken)


@pytest.mark.parametrize("text", ["", "123", "00001000000a1", "0000000000000", "00001000000011 1"])
def test_malformed_serials_are_refused(text: str) -> None:
    with pytest.raises(InvalidInput):
        pins.parse_serial(text)


@given(st.integers(pins.PIN_LENGTH_MIN, pins.PIN_LENGTH_MAX), st.randoms(use_true_random=False))
def test_new_pins_have_the_length_and_a_valid_check_digit(length: int, rnd: random.Random) -> None:
    pin = pins.new_pin(length, rnd.randrange)
    assert len(pin) == length and pin.isdigit()
    assert pins.parse_pin(pin) == pin


def test_pins_are_unique_in_a_large_draw() -> None:
    drawn = [pins.new_pin(14) for _ in range(50_000)]  # the real source: secrets
    assert len(set(drawn)) == len(drawn)
    # independent of anything else: digits spread evenly over every position
    for position in range(13):
        counts = [sum(1 for p in drawn[:20_000] if p[position] == d) for d in "0123456789"]
        assert min(counts) > 1_700 and max(counts) < 2_300, (position, counts)


def test_pins_parse_with_spaces_and_dashes_and_refuse_typos() -> None:
    pin = pins.new_pin(14, random.Random(7).randrange)
    assert pins.parse_pin(f" {pin[:4]} {pin[4:8]}-{pin[8:]} ") == pin
    typo = pin[:5] + str((int(pin[5]) + 3) % 10) + pin[6:]
    with pytest.raises(PinMalformed, match="check digit"):
        pins.parse_pin(typo)
    for bad in ("", "12345", "1" * 17, "12345678901２34", "abcdefghijklmn"):
        with pytest.raises(PinMalformed):
            pins.parse_pin(bad)


def test_mask_pin_hides_all_but_two_digits() -> None:
    assert pins.mask_pin("12345678901234") == "************34"
    assert pins.mask_pin("1234") == "****"


def test_pin_hash_is_keyed_and_versioned() -> None:
    pin = pins.new_pin(14, random.Random(1).randrange)
    k1, k2 = PinKey(1, b"a" * 32), PinKey(2, b"b" * 32)
    assert len(k1.hash(pin)) == 32 and k1.hash(pin) != k2.hash(pin)
    policy = PinPolicy(current=k2, previous=k1)
    assert policy.candidates(pin) == ((2, k2.hash(pin)), (1, k1.hash(pin)))
    assert PinPolicy().candidates(pin) == ()  # no key: nothing matches
    assert "aaaa" not in repr(policy) and "bbbb" not in repr(policy)


def test_generation_needs_a_strong_key() -> None:
    with pytest.raises(PinKeyMissing, match="security.pin_key"):
        PinPolicy().generation_key()
    with pytest.raises(PinKeyMissing, match="shorter"):
        PinPolicy(current=PinKey(1, b"short")).generation_key()
    assert PinPolicy(current=PinKey(1, b"k" * 16)).generation_key().version == 1


def test_policy_from_settings_reads_security() -> None:
    from config.settings import load_settings

    s = load_settings(environ={}).replace(**{"security.pin_key": "new-key-0123456789", "security.pin_key_version": 3,
                                              "security.pin_key_previous": "old-key-0123456789",
                                              "security.pin_length": 16})
    policy = PinPolicy.from_settings(s.security)
    assert (policy.current.version, policy.previous.version, policy.pin_length) == (3, 2, 16)
    assert policy.current.key == b"new-key-0123456789"
    assert PinPolicy.from_settings(load_settings(environ={}).security).current is None


@pytest.mark.parametrize("overrides, key", [
    ({"security.pin_length": 11}, "security.pin_length"),
    ({"security.pin_length": 17}, "security.pin_length"),
    ({"security.pin_key_previous": "old-key-0123456789"}, "security.pin_key_previous"),  # no current key
    ({"security.pin_key": "k" * 20, "security.pin_key_previous": "o" * 20}, "security.pin_key_previous"),  # v1
    ({"security.lockout_window_minutes": 0}, "security.lockout_window_minutes"),
    ({"security.pin_spike_per_minute": 0}, "security.pin_spike_per_minute"),
])
def test_pin_settings_are_checked(overrides: dict, key: str) -> None:
    from config.settings import SettingsError, load_settings

    with pytest.raises(SettingsError) as err:
        load_settings(environ={}).replace(**overrides)
    assert err.value.key == key


def test_pin_settings_defaults() -> None:
    from config.settings import load_settings

    security = load_settings(environ={}).security
    assert (security.pin_length, security.lockout_window_minutes, security.pin_spike_per_minute) == (14, 60, 100)
    assert not security.pin_key and not security.pin_key_previous and security.pin_key_version == 1
