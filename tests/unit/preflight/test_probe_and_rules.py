"""The host probe's pure parts (AES-GCM, memberlist ping/ack encoding, /proc parsing) and the preflight rules."""

from __future__ import annotations

import os

import pytest

from clusterops.findings import Severity
from clusterops.preflight import aesgcm, hostprobe
from clusterops.preflight.rules import (
    Endpoint,
    Probe,
    Thresholds,
    clock_findings,
    disk_findings,
    listener_findings,
    needed_nofile,
    process_findings,
    reach_findings,
)
from clusterops.preflight.run import endpoints_from_debug_config
from clusterops.preflight.ship import probe_source


def test_aes_gcm_matches_nist_and_pyca() -> None:
    # GCM spec (McGrew & Viega), test case 2: zero key, zero IV, one zero block.
    sealed = aesgcm.seal(bytes(16), bytes(12), bytes(16))
    assert sealed.hex() == "0388dace60b6a392f328c2b971b2fe78" + "ab6e47d42cec13bdf53a67b21257bddf"
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    for size in (16, 24, 32):
        for n in (0, 5, 16, 33):
            key, nonce, data, aad = os.urandom(size), os.urandom(12), os.urandom(n), os.urandom(n % 5)
            assert aesgcm.seal(key, nonce, data, aad) == AESGCM(key).encrypt(nonce, data, aad)
            assert aesgcm.open_(key, nonce, AESGCM(key).encrypt(nonce, data, aad), aad) == data
    with pytest.raises(ValueError, match="authentication"):
        aesgcm.open_(bytes(16), bytes(12), b"\0" + sealed[1:])


def test_ping_is_memberlist_msgpack_and_acks_decode() -> None:
    ping = hostprobe.encode_ping(7)
    assert ping[0] == hostprobe.PING_MSG and ping[1] == 0x82  # a map of two fields
    assert b"SeqNo" in ping and b"Node" in ping and ping.endswith(b"\xa0")  # Node "" = whoever you are
    # ackResp{SeqNo: 7, Payload: "xy"} as go-msgpack writes it
    ack = bytes([2, 0x82, 0xA5]) + b"SeqNo" + b"\x07" + bytes([0xA7]) + b"Payload" + bytes([0xA2]) + b"xy"
    assert hostprobe.decode_ack(ack) == 7
    assert hostprobe.decode_ack(bytes([12, 0, 0, 0, 0]) + ack) == 7  # with a CRC header
    assert hostprobe.decode_ack(bytes([7, 1, 0, 3]) + b"abc") is None  # compound without an ack
    compound = bytes([7, 2, 0, 3, 0, len(ack)]) + b"abc" + ack
    assert hostprobe.decode_ack(compound) == 7


def test_encrypted_packets_round_trip_and_a_wrong_key_fails() -> None:
    key = os.urandom(32)
    packet = hostprobe.seal_packet(key, hostprobe.encode_ping(1))
    assert packet[0] == 1 and hostprobe.open_packet(key, packet) == hostprobe.encode_ping(1)
    with pytest.raises(ValueError):
        hostprobe.open_packet(os.urandom(32), packet)


def test_proc_net_addresses_decode() -> None:
    assert hostprobe._hex_addr("0100007F:206D") == ("127.0.0.1", 8301)
    assert hostprobe._hex_addr("00000000000000000000000000000000:1F90") == ("::", 8080)


def test_the_shipped_script_is_one_valid_python_source() -> None:
    source = probe_source()
    compile(source, "<probe>", "exec")
    assert source.count("from __future__ import annotations") == 1 and source.startswith("from __future__")


LAB_DEBUG = {  # /v1/agent/self DebugConfig fields as a lab server (Consul 1.13.9) reported them
    "RPCBindAddr": "tcp://127.0.77.1:8300",
    "SerfBindAddrLAN": "tcp://127.0.77.1:8301",
    "SerfBindAddrWAN": "tcp://127.0.77.1:8302",
    "SerfPortLAN": 8301,
    "SerfPortWAN": 8302,
    "HTTPAddrs": ["tcp://127.0.77.1:8500"],
    "HTTPSAddrs": [],
    "GRPCAddrs": [],
    "DNSAddrs": [],
}


def test_endpoints_come_from_the_agents_effective_config() -> None:
    eps = {(e.proto, e.port, e.what) for e in endpoints_from_debug_config(LAB_DEBUG)}
    assert eps == {
        ("tcp", 8300, "server RPC"), ("tcp", 8301, "serf LAN"), ("udp", 8301, "serf LAN"),
        ("tcp", 8302, "serf WAN"), ("udp", 8302, "serf WAN"), ("tcp", 8500, "HTTP"),
    }  # fmt: skip
    no_wan = endpoints_from_debug_config({**LAB_DEBUG, "SerfPortWAN": -1})
    assert all(e.port != 8302 for e in no_wan)


def _answer(soft: int, used: int = 30, unit: str | None = None) -> dict[str, object]:
    return {"pid": 42, "limits": {"soft": soft, "hard": soft}, "open_fds": used, "unit_limit": unit}


def test_open_file_rules() -> None:
    th = Thresholds()
    assert process_findings("s1", _answer(65536), 3, th) == []
    assert [f.rule_id for f in process_findings("s1", _answer(1024), 3, th)] == ["PF002", "PF003"]
    assert needed_nofile(5000) == 11024
    assert [f.rule_id for f in process_findings("s1", _answer(65536), 40000, th)] == ["PF003"]
    busy = process_findings("s1", _answer(65536, used=63000), 3, th)
    assert [(f.rule_id, f.severity) for f in busy] == [("PF004", Severity.ERROR)]
    assert [f.rule_id for f in process_findings("s1", _answer(65536, unit="1024"), 3, th)] == ["PF005"]
    assert [f.rule_id for f in process_findings("s1", {"pid": None, "pid_error": "gone"}, 3, th)] == ["PF001"]


def test_listener_rules() -> None:
    ep = [Endpoint("tcp", "10.0.0.1", 8300, "server RPC")]
    mine = {"pid": 42, "listeners": [{"proto": "tcp", "addr": "10.0.0.1", "port": 8300, "pid": 42}]}
    assert listener_findings("s1", mine, ep) == []
    wildcard = {"pid": 42, "listeners": [{"proto": "tcp", "addr": "0.0.0.0", "port": 8300, "pid": 42}]}
    assert listener_findings("s1", wildcard, ep) == []
    other = {"pid": 42, "listeners": [{"proto": "tcp", "addr": "0.0.0.0", "port": 8300, "pid": 99}]}
    assert [f.rule_id for f in listener_findings("s1", other, ep)] == ["PF011"]
    assert [f.rule_id for f in listener_findings("s1", {"pid": 42, "listeners": []}, ep)] == ["PF010"]


def test_reach_disk_and_clock_rules() -> None:
    probes = [
        Probe("s1", "s2", "udp", 8301, False, "no answer"),
        Probe("s2", "s1", "udp", 8301, True, "ack"),
        Probe("s3", "s1", "udp", 8301, None, "untested"),
        Probe("s1", "s3", "tcp", 8300, False, "Connection refused"),
    ]
    assert [(f.rule_id, f.subject) for f in reach_findings(probes)] == [
        ("PF021", "s1 -> s2"), ("PF020", "s1 -> s3"), ("PF022", "s3"),
    ]  # fmt: skip
    disk = {"uid": 0, "disk": {"path": "/d", "free": 10 << 30, "total": 20 << 30, "mode": 0o777, "uid": 1000}}
    assert [f.rule_id for f in disk_findings("s1", disk, Thresholds())] == ["PF031"]
    full = {"disk": {"path": "/d", "free": 1 << 20, "total": 20 << 30, "mode": 0o700, "uid": 0}}
    assert [f.rule_id for f in disk_findings("s1", full, Thresholds())] == ["PF030"]
    th = Thresholds(max_clock_offset=1.0)
    assert clock_findings({"s1": (0.0, 0.1), "s2": (0.5, 0.1)}, th) == []
    assert [f.subject for f in clock_findings({"s1": (0.0, 0.1), "s2": (3.0, 0.1)}, th)] == ["s1 / s2"]
    assert clock_findings({"s1": (0.0, 1.5), "s2": (2.0, 1.5)}, th) == []  # not provable through slow probes
