"""How many connections a process accepts, given its open files limit."""
from __future__ import annotations

from gateway.http.connections import FILES_RESERVED, connections_max


def test_the_connection_limit_stays_below_the_open_files_limit() -> None:
    assert connections_max(1000, 1_048_576) == 1000
    assert connections_max(1000, 1024) == 1024 - FILES_RESERVED
    assert connections_max(1000, 100) == 1
