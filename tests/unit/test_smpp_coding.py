"""SMS text to SMPP parts and back, receipt parsing, and provider message ids (pure)."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing_core.db.sms_store import message_ref, message_refs
from gateway.providers.smpp import coding
from gateway.providers.smpp.receipts import is_receipt, parse_receipt


def test_short_gsm_text_is_one_part_of_septets():
    encoded = coding.encode("Balance: 150 TVU @ KES 1.00 {ok}", ref=7)
    assert (encoded.data_coding, encoded.esm_class, len(encoded.parts)) == (coding.GSM7, 0, 1)
    assert encoded.parts[0].startswith(b"Balance: 150 TVU \x00 KES")  # @ is septet 0
    assert b"\x1b\x28ok\x1b\x29" in encoded.parts[0]  # { } from the extension table


def test_160_septets_fit_one_sms_161_do_not():
    assert len(coding.encode("x" * 160, ref=1).parts) == 1
    encoded = coding.encode("x" * 161, ref=9)
    assert encoded.esm_class == coding.UDHI
    assert [p[:6] for p in encoded.parts] == [b"\x05\x00\x03\x09\x02\x01", b"\x05\x00\x03\x09\x02\x02"]
    assert [len(p) - 6 for p in encoded.parts] == [153, 8]


def test_an_escape_is_never_split_from_its_character():
    text = "a" * 152 + "€" + "b" * 10  # 164 septets; the euro sign would straddle 153
    first, second = coding.encode(text, ref=1).parts
    assert first[6:] == b"a" * 152 and second[6:] == b"\x1b\x65" + b"b" * 10


def test_unicode_is_ucs2_and_long_unicode_is_concatenated():
    assert coding.encode("Salio lako ni ₹100 — asante", ref=0).data_coding == coding.UCS2
    text = "Habari 😀 " * 20  # 400 octets in UTF-16, a surrogate pair in every 20
    encoded = coding.encode(text, ref=42)
    assert encoded.data_coding == coding.UCS2 and encoded.esm_class == coding.UDHI and len(encoded.parts) == 3
    assert all(len(p) <= 140 for p in encoded.parts)
    assert "".join(p[6:].decode("utf-16-be") for p in encoded.parts) == text  # no pair was split


def test_too_long_is_refused():
    with pytest.raises(ValueError):
        coding.encode("x" * 153 * 256, ref=0)


@given(st.text(max_size=700))
def test_every_text_comes_back_whole(text):
    encoded = coding.encode(text, ref=coding.reference("event-1"))
    bodies = []
    for part in encoded.parts:
        if encoded.esm_class & coding.UDHI:
            segment, body = coding.split_udh(part)
            assert segment is not None and segment.total == len(encoded.parts)
            bodies.append(body)
        else:
            bodies.append(part)
    joined = b"".join(bodies)
    assert coding.decode(joined, encoded.data_coding) == text


def test_the_reference_is_stable_per_message():
    assert coding.reference("0190b0c4-aaaa") == coding.reference("0190b0c4-aaaa")
    assert 0 <= coding.reference("x") <= 255


def test_udh_with_a_16_bit_reference():
    segment, body = coding.split_udh(b"\x06\x08\x04\x12\x34\x03\x02hello")
    assert segment == coding.Segment(0x1234, 3, 2) and body == b"hello"


RECEIPT = "id:1715004 sub:001 dlvrd:001 submit date:2611221200 done date:2611221201 stat:DELIVRD err:000 text:Hello"


def test_receipt_from_text():
    receipt = parse_receipt(RECEIPT)
    assert (receipt.message_id, receipt.state, receipt.status, receipt.error) == ("1715004", "DELIVRD", "delivered", "")


def test_receipt_tlvs_win_over_the_text():
    receipt = parse_receipt(RECEIPT.replace("DELIVRD", "ENROUTE"), receipted_message_id="1A2B3C\0", message_state=5)
    assert (receipt.message_id, receipt.state, receipt.status) == ("1A2B3C", "UNDELIV", "failed")


def test_failed_receipt_keeps_its_error_and_odd_ones_are_none():
    receipt = parse_receipt(RECEIPT.replace("DELIVRD", "UNDELIV").replace("err:000", "err:034"))
    assert (receipt.status, receipt.error) == ("failed", "UNDELIV err:034")
    assert parse_receipt("stat:DELIVRD") is None
    assert parse_receipt("id:9 stat:ACCEPTD").status == "sent"
    assert is_receipt(0x04) and not is_receipt(0x00) and not is_receipt(0x40)


def test_message_ids_match_across_spellings():
    stored = message_ref("001A2B3C")
    assert stored == "1a2b3c"
    assert stored in message_refs("1715004")  # the same number in decimal
    assert stored in message_refs("1A2B3C")
    assert message_refs("000")[0] == "0" and message_refs("  ") == ()
    assert message_refs("abc-def") == ("abc-def",)
