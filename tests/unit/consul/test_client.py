"""The Consul adapter's deadline, against a real socket that accepts and never answers (a hung
agent: the kernel completes the handshake of a SIGSTOPped process too)."""

from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Iterator

import pytest

from clusterops.consul.client import ConsulClient, NoLeader
from clusterops.consul.lock import create_session, renew_session
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


class _Answers(http.server.BaseHTTPRequestHandler):
    """Answers with the status and body Consul gives mid-election (texts from agent/pool/pool.go and
    agent/consul/rpc.go: the leader this agent still names is dead, or none is elected yet)."""

    body = b""

    def do_GET(self) -> None:
        self.send_response(500)
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *_args: object) -> None:
        pass


@pytest.mark.parametrize(
    "text",
    [
        "rpc error getting client: failed to get conn: dial tcp 10.0.0.1:0->10.0.0.2:8300: connect: connection refused",
        "No cluster leader",
    ],
)
def test_an_election_is_no_leader_and_not_retried(text: str) -> None:
    handler = type("H", (_Answers,), {"body": text.encode()})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        address = f"http://127.0.0.1:{server.server_address[1]}"
        client = ConsulClient(ConsulSettings(address=address), attempts=3)
        with pytest.raises(NoLeader, match=text.split(":")[0]):
            client.raft_configuration()
        assert client.requests_made == 1  # the caller reads ?stale instead of waiting on retries
    finally:
        server.shutdown()
        server.server_close()


class _Unavailable(http.server.BaseHTTPRequestHandler):
    """Answers every request 503, as a server restarting behind a proxy does (a transient failure)."""

    def _answer(self) -> None:
        self.send_response(503)
        self.end_headers()
        self.wfile.write(b"service unavailable")

    do_GET = do_PUT = _answer

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def unavailable() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Unavailable)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_reads_are_retried_but_cluster_changing_writes_never_are(unavailable: str) -> None:
    client = ConsulClient(ConsulSettings(address=unavailable), attempts=3, max_backoff=0.01)
    with pytest.raises(ConnectionFailed, match="503"):
        client.peers()
    assert client.requests_made == 3  # a read: idempotent
    writes = {
        "remove-peer": lambda: client.remove_raft_peer("id-1"),
        "force-leave": lambda: client.force_leave("s1"),
        "transfer-leader": lambda: client.transfer_leader("id-1"),
        "session create": lambda: create_session(client, "test"),
    }
    for name, write in writes.items():
        client.requests_made = 0
        with pytest.raises(ConnectionFailed):
            write()
        assert client.requests_made == 1, name
    client.requests_made = 0
    with pytest.raises(ConnectionFailed):
        renew_session(client, "abc")  # renewing twice is renewing once: retried
    assert client.requests_made == 3
