"""The Consul adapter's deadline, against a real socket that accepts and never answers (a hung
agent: the kernel completes the handshake of a SIGSTOPped process too)."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from clusterops.consul.client import ConsulClient
from clusterops.errors import ConnectionFailed
from clusterops.settings import ConsulSettings


@pytest.fixture
def hung_agent() -> Iterator[str]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        sock.close()


def test_a_deadline_bounds_every_request_and_stops_the_retries(hung_agent: str) -> None:
    # per request 3 s, 3 attempts: without the deadline this takes 9 s and makes 3 requests
    client = ConsulClient(ConsulSettings(address=hung_agent, timeout=3.0), attempts=3)
    with client.deadline(0.5), pytest.raises(ConnectionFailed, match="did not answer in time"):
        client.leader()
    assert client.requests_made == 1
    with client.deadline(0.0), pytest.raises(ConnectionFailed, match="no time left before the deadline"):
        client.leader()
    assert client.remaining() is None  # the deadline ends with its block
