"""The Vault adapter retries only what is idempotent, against a real socket answering 503."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator

import pytest

from clusterops.errors import ConnectionFailed
from clusterops.kv.client import VaultClient
from clusterops.kv.model import SecretRef
from clusterops.settings import VaultSettings


class _Unavailable(http.server.BaseHTTPRequestHandler):
    def _answer(self) -> None:
        self.send_response(503)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"errors": []}')

    do_GET = do_POST = do_PATCH = do_DELETE = _answer

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def client() -> Iterator[VaultClient]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Unavailable)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        settings = VaultSettings(address=f"http://127.0.0.1:{server.server_address[1]}", token="t", timeout=5)
        with VaultClient(settings, attempts=3) as c:
            yield c
    finally:
        server.shutdown()
        server.server_close()


REF = SecretRef("secret", "app/db", 2)


def test_a_read_is_retried(client: VaultClient) -> None:
    with pytest.raises(ConnectionFailed, match="503"):
        client.read_metadata(REF)
    assert client.requests_made == 3


@pytest.mark.parametrize(
    "write",
    [
        lambda c: c.write(REF, {"k": "v"}),  # no cas: a retry could land a second version
        lambda c: c.write(REF, {"k": "v"}, cas=1),  # a retried cas write could conflict with itself
        lambda c: c.delete_versions(REF, [1]),
        lambda c: c.write_metadata(REF, {"max_versions": 3}),
    ],
)
def test_a_write_is_made_once(client: VaultClient, write: object) -> None:
    with pytest.raises(ConnectionFailed, match="503"):
        write(client)  # type: ignore[operator]
    assert client.requests_made == 1
