"""SMS text to ``submit_sm`` parts and back: GSM 7-bit or UCS2, concatenated with a UDH.

Pure functions. A text every character of which is in the GSM 03.38 alphabet (its
extension table included: ``€ [ ] { } ~ ^ \\ |`` take two septets) is sent with
``data_coding`` 0, one septet per octet as SMPP carries it; any other text as UCS2
(``data_coding`` 8, UTF-16 big-endian). A text that does not fit one SMS (160
septets, 70 UCS2 units) is split into parts of 153 septets or 67 units, each
starting with the 6-octet concatenation header ``05 00 03 ref total seq``, and
``esm_class`` 0x40 (UDHI). A part never ends between an escape and its character,
nor inside a UTF-16 surrogate pair. ``ref`` is the caller's: the same message sent
again keeps its reference, so a handset joins resent parts to the first ones.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass

GSM7, LATIN1, UCS2 = 0, 3, 8
UDHI = 0x40
PARTS_MAX = 255
_SINGLE = {GSM7: 160, UCS2: 140}  # octets of one SMS without a header (septets for GSM7)
_PART = {GSM7: 153, UCS2: 134}

_BASIC = ("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
          "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
_EXTENSION = {"\f": 0x0A, "^": 0x14, "{": 0x28, "}": 0x29, "\\": 0x2F, "[": 0x3C, "~": 0x3D, "]": 0x3E,
              "|": 0x40, "€": 0x65}
_ENCODE: dict[str, bytes] = {ch: bytes([i]) for i, ch in enumerate(_BASIC) if ch != "\x1b"}
_ENCODE.update({ch: bytes([0x1B, code]) for ch, code in _EXTENSION.items()})
_DECODE_BASIC = {i: ch for i, ch in enumerate(_BASIC)}
_DECODE_EXTENSION = {code: ch for ch, code in _EXTENSION.items()}


@dataclass(frozen=True, slots=True)
class Encoded:
    data_coding: int
    esm_class: int
    parts: tuple[bytes, ...]  # each one short_message, header included


def is_gsm7(text: str) -> bool:
    return all(ch in _ENCODE for ch in text)


def encode(text: str, ref: int) -> Encoded:
    """``text`` as one or more ``short_message`` values; ValueError beyond 255 parts."""
    if is_gsm7(text):
        units = [_ENCODE[ch] for ch in text]
        coding = GSM7
    else:
        units = _utf16_units(text)
        coding = UCS2
    if sum(len(u) for u in units) <= _SINGLE[coding]:
        return Encoded(coding, 0, (b"".join(units),))
    chunks = _chunks(units, _PART[coding])
    if len(chunks) > PARTS_MAX:
        raise ValueError(f"text too long: {len(chunks)} parts (at most {PARTS_MAX})")
    header = bytes([0x05, 0x00, 0x03, ref & 0xFF, len(chunks)])
    return Encoded(coding, UDHI, tuple(header + bytes([seq]) + chunk for seq, chunk in enumerate(chunks, 1)))


def _utf16_units(text: str) -> list[bytes]:
    """One item per character: 2 octets, or 4 for a surrogate pair (kept whole)."""
    return [ch.encode("utf-16-be") for ch in text]


def _chunks(units: list[bytes], size: int) -> list[bytes]:
    chunks: list[bytes] = []
    current = b""
    for unit in units:
        if len(current) + len(unit) > size:
            chunks.append(current)
            current = b""
        current += unit
    if current:
        chunks.append(current)
    return chunks


def decode(data: bytes, data_coding: int) -> str:
    """A received ``short_message`` (header already removed) as text."""
    coding = data_coding & 0x0F if data_coding & 0xF0 in (0x00, 0xF0) else data_coding
    if coding == UCS2:
        return data.decode("utf-16-be", errors="replace")
    if coding in (LATIN1, 0x01):
        return data.decode("latin-1")
    return _decode_gsm7(data)


def _decode_gsm7(data: bytes) -> str:
    out: list[str] = []
    escaped = False
    for octet in data:
        if escaped:
            out.append(_DECODE_EXTENSION.get(octet, " "))
            escaped = False
        elif octet == 0x1B:
            escaped = True
        else:
            out.append(_DECODE_BASIC.get(octet, "?"))
    return "".join(out)


@dataclass(frozen=True, slots=True)
class Segment:
    """One part of a concatenated message: reference, total and sequence from its UDH."""

    ref: int
    total: int
    seq: int


def split_udh(data: bytes) -> tuple[Segment | None, bytes]:
    """``(segment, body)`` of a ``short_message`` sent with UDHI; segment None when the header
    names no concatenation (or is malformed, in which case the whole data is the body)."""
    if not data or data[0] + 1 > len(data):
        return None, data
    header, body = data[1:data[0] + 1], data[data[0] + 1:]
    i = 0
    while i + 2 <= len(header):
        iei, length = header[i], header[i + 1]
        value = header[i + 2:i + 2 + length]
        if iei == 0x00 and length == 3 and len(value) == 3:
            return Segment(value[0], value[1], value[2]), body
        if iei == 0x08 and length == 4 and len(value) == 4:
            return Segment(value[0] << 8 | value[1], value[2], value[3]), body
        i += 2 + length
    return None, body


def reference(key: str) -> int:
    """A stable concatenation reference (0-255) for a message key."""
    return zlib.crc32(key.encode()) & 0xFF


__all__ = ["Encoded", "Segment", "GSM7", "UCS2", "UDHI", "decode", "encode", "is_gsm7", "reference", "split_udh"]
