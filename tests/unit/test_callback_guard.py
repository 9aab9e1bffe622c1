"""The callback guard's rule, without a network: protected mode, address lists, tokens, and
which address ``X-Forwarded-For`` may stand for."""
from __future__ import annotations

import pytest

from config.settings import Secret
from gateway.providers.guard import PROTECTED_REASON, CallbackGuard, client_address, networks, parse_address

PROXY = networks(("10.0.0.5/32",))


@pytest.mark.parametrize("peer, forwarded, trusted, client", [
    ("203.0.113.9", "127.0.0.1", (), "203.0.113.9"),  # no proxy configured: the header is ignored
    ("203.0.113.9", "127.0.0.1", PROXY, "203.0.113.9"),  # the peer is no trusted proxy
    ("10.0.0.5", "127.0.0.1, 198.51.100.7", PROXY, "198.51.100.7"),  # the last hop before our proxy
    ("10.0.0.5", "198.51.100.7, 10.0.0.5", PROXY, "198.51.100.7"),  # proxies in the chain are skipped
    ("10.0.0.5", "", PROXY, "10.0.0.5"),  # no header: the proxy itself
    ("10.0.0.5", "not-an-address", PROXY, None),
    ("::ffff:127.0.0.1", "", (), "127.0.0.1"),
    (None, "", (), None),
])
def test_the_client_is_the_peer_unless_a_trusted_proxy_forwards(peer, forwarded, trusted, client):
    assert client_address(peer, forwarded, trusted) == parse_address(client)


@pytest.mark.parametrize("remote, allowed", [("127.0.0.1", True), ("127.8.9.10", True), ("::1", True),
                                             ("169.254.77.2", False), ("10.1.2.3", False), (None, False)])
def test_protected_mode_takes_loopback_only(remote, allowed):
    guard = CallbackGuard("mpesa", Secret(""), ())
    assert guard.protected
    reason = guard.decide(parse_address(remote), "")
    assert (reason == "") is allowed
    if remote and not allowed:
        assert reason == PROTECTED_REASON


def test_a_token_or_an_address_list_ends_protected_mode():
    with_token = CallbackGuard("mpesa", Secret("t0ken"), ())
    with_list = CallbackGuard("mpesa", Secret(""), ("169.254.77.0/30",))
    assert not with_token.protected and not with_list.protected
    remote = parse_address("169.254.77.2")
    assert with_token.decide(remote, "t0ken") == ""
    assert with_token.decide(remote, "wrong") == "missing or wrong callback token"
    assert with_list.decide(remote, "") == ""
    assert with_list.decide(parse_address("127.0.0.1"), "") == "source address 127.0.0.1 is not allowed"
