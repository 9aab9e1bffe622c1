"""The log's repeat filter: a flood of one warning becomes a few lines per interval, with a count."""
from __future__ import annotations

import logging

from gateway.logs import RepeatFilter


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def record(msg: str, *args, level: int = logging.ERROR, name: str = "asyncio") -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, msg, args, None)


def test_a_repeated_error_passes_once_per_interval_with_the_count_left_out() -> None:
    clock = Clock()
    repeats = RepeatFilter(every_s=10, clock=clock, burst=1)
    passed = [r for r in (record("socket.accept() out of system resource") for _ in range(10_000))
              if repeats.filter(r)]
    assert len(passed) == 1
    clock.now = 10
    later = record("socket.accept() out of system resource")
    assert repeats.filter(later) and later.getMessage().endswith("(9999 similar lines suppressed)")
    assert repeats.filter(record("another template")) and repeats.filter(record("x %s", 1, name="other"))


def test_info_lines_and_different_templates_always_pass() -> None:
    repeats = RepeatFilter(every_s=10, clock=Clock(), burst=1)
    assert all(repeats.filter(record("card %s redeemed", n, level=logging.INFO)) for n in range(100))
    assert repeats.filter(record("a %s", 1)) and not repeats.filter(record("a %s", 2))
    assert repeats.filter(record("b %s", 1))


def test_a_short_run_of_one_template_passes_whole_and_a_flood_is_cut_to_the_burst() -> None:
    """``serve`` names each provider in protected mode with one template: all six lines pass."""
    clock = Clock()
    repeats = RepeatFilter(every_s=10, clock=clock, burst=10)
    providers = ("mpesa", "mtn", "airtel", "africastalking", "africastalking-ussd", "africastalking-sms")
    assert all(repeats.filter(record("protected mode: %s callbacks", p, level=logging.WARNING)) for p in providers)
    flood = [repeats.filter(record("refused %s", n, level=logging.WARNING)) for n in range(1000)]
    assert flood.count(True) == 10 and flood[:10] == [True] * 10
    clock.now = 10
    later = record("refused %s", "x", level=logging.WARNING)
    assert repeats.filter(later) and later.getMessage() == "refused x (990 similar lines suppressed)"
