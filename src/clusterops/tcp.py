"""Does something accept a TCP connection at `host:port`? One look, no retry.

The stale-peer planners use it to refuse removing a peer whose raft/cluster port still answers, and the
upgrade reader to check a server's RPC port before it stops another server.
"""

from __future__ import annotations

import socket


def tcp_problem(address: str, timeout: float = 1.0) -> str:
    """ "" when something accepts a connection at `host:port` (IPv6 in brackets allowed), else why not."""
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            return ""
    except (OSError, ValueError) as err:
        return str(err) or type(err).__name__


def tcp_answers(address: str, timeout: float = 1.0) -> bool:
    """True when something accepts a TCP connection at `host:port`."""
    return not tcp_problem(address, timeout)
