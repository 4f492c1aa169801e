# ruff: noqa: PTH110, PTH115, PTH116, PTH208
# (a script for any host's python3: plain os calls on /proc)
"""The probe that runs on a server's host: read-only, stdlib-only, one JSON request in, one JSON answer out.

`clusterops.preflight.ship` sends this file's source (after `aesgcm.py`'s) to `python3 -` on the host through
the inventory's driver (locally for `lab` and `exec`, over OpenSSH for `ssh`), followed by the request, so
nothing of it - the gossip key included - is ever in an argv. It reads and changes nothing on the host but
what any unprivileged observer could: /proc, statvfs, `systemctl show`, `ip -j`, and the connections below.

What it gathers:
- the agent process: its pid (given by the lab, or found with the inventory's `pid` command or the systemd
  unit's MainPID), the open-file limits of /proc/PID/limits, its open descriptors (/proc/PID/fd) and, under
  systemd, the unit's LimitNOFILE (a unit changed but not restarted shows a different value);
- listening sockets from /proc/net/{tcp,tcp6,udp,udp6} (the table `ss -l` prints), each with the pid that
  holds it (matched through /proc/*/fd socket inodes), for the ports asked about;
- the data directory: free space (statvfs), mode and owner;
- the host's clock, for the offset between servers;
- reachability from this host, with the server's own address as the source (so a packet filter keyed on the
  pair of addresses sees exactly what the agent's traffic would): TCP connects to each peer's ports, and
  UDP gossip probes, explained next;
- with `facts`, what `validate --facts` reads: `ip -j addr show`, `ip -j -4 route show`, and the address
  variables (VAULT_*/BAO_* *_ADDR and friends) of the agent's environment - never anything else of it.

How a UDP probe tells "dropped" from "answered". UDP has no handshake, and Consul's own port check is TCP
only, so a datagram sent into the void proves nothing. Instead the probe speaks memberlist, the gossip
protocol on 8301 (LAN) and 8302 (WAN): it sends a `ping` message (type 0, msgpack `{SeqNo, Node: ""}`; an
empty Node means "whoever you are") from an ephemeral port of the source address, and a live agent answers
every ping with an `ackResp` carrying the same SeqNo, to the address the ping came from (memberlist
net.go handlePing). An answer from the peer's address and port within the timeout means UDP works in both
directions of that pair; silence means the ping or its answer was dropped (a firewall, a NAT, a down agent -
the TCP results tell those apart). With gossip encryption on, the agent drops unencrypted packets, so the
probe seals the ping as memberlist does (encryption version 1: one version byte, a 12-byte nonce, AES-GCM
with the packet label as additional data; the label is empty unless gossip labels are configured) with the
gossip key it was given, and opens the answer with it; no key means "untested", never "dropped". Answers may
be compound or compressed messages (memberlist piggybacks gossip on them); any datagram from the peer's
gossip address and port to the probe's private ephemeral port is an answer, and the SeqNo is checked when the
answer is a plain ackResp.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import random
import socket
import struct
import subprocess
import threading
import time
from typing import Any

# Shipped, aesgcm's source precedes this one and its names are already defined; imported when tested here.
with contextlib.suppress(ImportError):
    from clusterops.preflight.aesgcm import open_, seal

PING_MSG, ACK_RESP_MSG, COMPOUND_MSG = 0, 2, 7
ADDRESS_ENV = ("API_ADDR", "REDIRECT_ADDR", "ADVERTISE_ADDR", "CLUSTER_ADDR", "RAFT_NODE_ID", "RAFT_PATH")


# -- msgpack, just what a ping and an ack need --------------------------------------------------------


def _mp_str(s: str) -> bytes:
    b = s.encode()
    if len(b) < 32:
        return bytes([0xA0 | len(b)]) + b
    return b"\xd9" + bytes([len(b)]) + b


def encode_ping(seq: int) -> bytes:
    """memberlist's `ping{SeqNo, Node}` as go-msgpack encodes it (a map keyed by field name)."""
    return bytes([PING_MSG, 0x82]) + _mp_str("SeqNo") + b"\xce" + struct.pack(">I", seq) + _mp_str("Node") + b"\xa0"


def _mp_read(buf: bytes, i: int) -> tuple[Any, int]:
    b = buf[i]
    i += 1
    if b <= 0x7F:
        return b, i
    if 0x80 <= b <= 0x8F or b in (0xDE, 0xDF):
        if b <= 0x8F:
            n = b & 0x0F
        elif b == 0xDE:
            n, i = struct.unpack(">H", buf[i : i + 2])[0], i + 2
        else:
            n, i = struct.unpack(">I", buf[i : i + 4])[0], i + 4
        out = {}
        for _ in range(n):
            k, i = _mp_read(buf, i)
            v, i = _mp_read(buf, i)
            out[k.decode() if isinstance(k, bytes) else k] = v
        return out, i
    if 0xA0 <= b <= 0xBF:
        n = b & 0x1F
        return buf[i : i + n], i + n
    sizes = {0xCC: 1, 0xCD: 2, 0xCE: 4, 0xCF: 8, 0xD0: 1, 0xD1: 2, 0xD2: 4, 0xD3: 8}
    if b in sizes:
        n = sizes[b]
        return int.from_bytes(buf[i : i + n], "big", signed=b >= 0xD0), i + n
    if b in (0xD9, 0xDA, 0xDB, 0xC4, 0xC5, 0xC6):
        width = {0xD9: 1, 0xDA: 2, 0xDB: 4, 0xC4: 1, 0xC5: 2, 0xC6: 4}[b]
        n = int.from_bytes(buf[i : i + width], "big")
        i += width
        return buf[i : i + n], i + n
    if b == 0xC0:
        return None, i
    if b in (0xC2, 0xC3):
        return b == 0xC3, i
    if b >= 0xE0:
        return b - 0x100, i
    raise ValueError(f"msgpack type 0x{b:02x} not handled")


def decode_ack(packet: bytes) -> int | None:
    """The SeqNo of an ackResp, plain or inside a compound message (memberlist piggybacks gossip on answers),
    or None when there is none to read (another message, or a compressed one)."""
    if len(packet) >= 5 and packet[0] == 12:  # hasCrcMsg: type, CRC32, then the message
        packet = packet[5:]
    if len(packet) >= 2 and packet[0] == COMPOUND_MSG:  # type, count, count x uint16 lengths, the parts
        count, offset = packet[1], 2 + 2 * packet[1]
        for n in range(count):
            (length,) = struct.unpack(">H", packet[2 + 2 * n : 4 + 2 * n])
            seq = decode_ack(packet[offset : offset + length])
            if seq is not None:
                return seq
            offset += length
        return None
    if not packet or packet[0] != ACK_RESP_MSG:
        return None
    try:
        doc, _ = _mp_read(packet, 1)
    except (ValueError, IndexError):
        return None
    seq = doc.get("SeqNo") if isinstance(doc, dict) else None
    return seq if isinstance(seq, int) else None


def seal_packet(key: bytes, payload: bytes, label: bytes = b"") -> bytes:
    nonce = os.urandom(12)
    return b"\x01" + nonce + seal(key, nonce, payload, label)


def open_packet(key: bytes, packet: bytes, label: bytes = b"") -> bytes:
    if len(packet) < 1 + 12 + 16 or packet[0] not in (0, 1):
        raise ValueError("not an encrypted memberlist packet")
    plain = open_(key, packet[1:13], packet[13:], label)
    if packet[0] == 0 and plain:  # version 0 pads with PKCS#7
        plain = plain[: -plain[-1]]
    return plain


# -- the probes ---------------------------------------------------------------------------------------


def udp_ping(source: str | None, host: str, port: int, key: bytes | None, timeout: float) -> tuple[bool, str]:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    seq = random.randrange(1, 2**31)
    packet = encode_ping(seq)
    if key is not None:
        packet = seal_packet(key, packet)
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.bind((source or ("::" if family == socket.AF_INET6 else "0.0.0.0"), 0))
        sock.settimeout(timeout)
        deadline = time.monotonic() + timeout
        sent = 0
        while time.monotonic() < deadline:
            if sent < 3:  # a few pings, in case one is lost by chance; any one answer will do
                try:
                    sock.sendto(packet, (host, port))
                except OSError as err:  # refused on this host itself, e.g. by a local packet filter
                    return False, f"cannot send the gossip ping: {err.strerror or err}"
                sent += 1
            try:
                sock.settimeout(max(0.05, min(timeout / 3, deadline - time.monotonic())))
                data, peer = sock.recvfrom(65535)
            except OSError:
                continue
            if peer[0] != host or peer[1] != port:
                continue
            if key is not None:
                try:
                    data = open_packet(key, data)
                except ValueError:
                    return False, "answered, but the answer does not open with the gossip key given (key mismatch?)"
            got = decode_ack(data)
            if got is None or got == seq:
                return True, "ack" if got == seq else "answered"
        return False, f"no answer to {sent} gossip ping(s) within {timeout:g}s"


def tcp_connect(source: str | None, host: str, port: int, timeout: float) -> tuple[bool, str]:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            if source:
                sock.bind((source, 0))
            sock.connect((host, port))
        except TimeoutError:
            return False, f"timed out after {timeout:g}s (dropped)"
        except OSError as err:
            return False, err.strerror or str(err)
    return True, "connected"


def _hex_addr(text: str) -> tuple[str, int]:
    addr, port = text.split(":")
    raw = bytes.fromhex(addr)
    if len(raw) == 4:
        return socket.inet_ntop(socket.AF_INET, raw[::-1]), int(port, 16)
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
    ip = socket.inet_ntop(socket.AF_INET6, words)
    if ip.startswith("::ffff:") and "." in ip:
        ip = ip[7:]
    return ip, int(port, 16)


def listeners(wanted: list[dict[str, Any]], agent_pid: int | None = None) -> list[dict[str, Any]]:
    """Listening TCP sockets and bound UDP sockets that could serve a wanted {proto, addr, port} (the same port
    on the same address, or on a wildcard address, either way round), each with the pid holding it."""
    ports = {int(w["port"]) for w in wanted}
    wildcard = ("0.0.0.0", "::")

    def relevant(proto: str, ip: str, port: int) -> bool:
        return any(
            w["proto"] == proto and int(w["port"]) == port and (ip == w.get("addr") or ip in wildcard
            or w.get("addr") in wildcard or not w.get("addr"))
            for w in wanted
        )  # fmt: skip

    found: list[dict[str, Any]] = []
    for proto, listen_state in (("tcp", "0A"), ("tcp6", "0A"), ("udp", "07"), ("udp6", "07")):
        try:
            with open(f"/proc/net/{proto}") as f:
                lines = f.read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            cols = line.split()
            if len(cols) < 10 or cols[3] != listen_state:
                continue
            ip, port = _hex_addr(cols[1])
            if port in ports and relevant(proto.rstrip("6"), ip, port):
                found.append({"proto": proto.rstrip("6"), "addr": ip, "port": port, "inode": cols[9], "pid": None})
    if found:
        owners = _socket_owners({entry["inode"] for entry in found}, first=agent_pid)
        for entry in found:
            entry["pid"] = owners.get(entry.pop("inode"))
    return found


def _socket_owners(inodes: set[str], first: int | None = None) -> dict[str, int]:
    """Which pid holds each socket inode: the agent's own descriptors first, every other process only for
    the sockets the agent does not hold (a scan of all of /proc is the slow part of a probe)."""
    owners: dict[str, int] = {}

    def scan(pid: str) -> None:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            return
        for fd in fds:
            with contextlib.suppress(OSError):
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
                if link.startswith("socket:[") and link[8:-1] in inodes:
                    owners[link[8:-1]] = int(pid)

    if first is not None:
        scan(str(first))
    if len(owners) < len(inodes):
        for pid in os.listdir("/proc"):
            if pid.isdigit() and pid != str(first):
                scan(pid)
                if len(owners) == len(inodes):
                    break
    return owners


def nofile_limits(pid: int) -> dict[str, int | None]:
    with open(f"/proc/{pid}/limits") as f:
        text = f.read()
    for line in text.splitlines():
        if line.startswith("Max open files"):
            soft, hard = line.split()[3:5]
            return {
                "soft": None if soft == "unlimited" else int(soft),
                "hard": None if hard == "unlimited" else int(hard),
            }
    raise OSError(f"/proc/{pid}/limits has no 'Max open files' line")


def _run(argv: list[str]) -> str | None:
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None


def find_pid(request: dict[str, Any]) -> tuple[int | None, str]:
    if request.get("pid"):
        pid = int(request["pid"])
        return (pid, "") if os.path.exists(f"/proc/{pid}") else (None, f"process {pid} is not running")
    if request.get("pid_command"):
        out = _run(["sh", "-c", request["pid_command"]])
        if out and out.split()[0].isdigit() and int(out.split()[0]) > 0:
            return int(out.split()[0]), ""
        return None, f"the pid command printed no running pid ({request['pid_command']!r})"
    unit = request.get("unit")
    if unit:
        out = _run(["systemctl", "show", "-p", "MainPID", "--value", unit])
        if out and out.isdigit() and int(out) > 0:
            return int(out), ""
        return None, f"systemd unit {unit} has no running main process"
    return None, "no way to find the agent process (give the inventory a `pid` command or a systemd `unit`)"


def agent_env(pid: int) -> dict[str, str]:
    """The address variables of the agent's environment (VAULT_API_ADDR, BAO_CLUSTER_ADDR, ...), nothing else."""
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            raw = f.read().split(b"\0")
    except OSError:
        return {}
    out = {}
    for item in raw:
        name, _, value = item.decode(errors="replace").partition("=")
        prefix, _, rest = name.partition("_")
        if prefix in ("VAULT", "BAO") and rest in ADDRESS_ENV:
            out[name] = value
    return out


def probe(request: dict[str, Any]) -> dict[str, Any]:
    answer: dict[str, Any] = {"time": time.time(), "hostname": socket.gethostname()}
    pid, why = find_pid(request)
    answer["pid"], answer["pid_error"] = pid, why
    if pid is not None:
        try:
            answer["limits"] = nofile_limits(pid)
            answer["open_fds"] = len(os.listdir(f"/proc/{pid}/fd"))
            answer["uid"] = os.stat(f"/proc/{pid}").st_uid
        except OSError as err:
            answer["limits_error"] = f"cannot read /proc/{pid}: {err.strerror}"
    if request.get("unit"):
        answer["unit_limit"] = _run(["systemctl", "show", "-p", "LimitNOFILE", "--value", request["unit"]])
    wanted = request.get("ports", [])
    answer["listeners"] = listeners(wanted, pid) if wanted else []
    data_dir = request.get("data_dir")
    if data_dir:
        try:
            st, vfs = os.stat(data_dir), os.statvfs(data_dir)
            answer["disk"] = {
                "path": data_dir,
                "free": vfs.f_bavail * vfs.f_frsize,
                "total": vfs.f_blocks * vfs.f_frsize,
                "mode": st.st_mode & 0o7777,
                "uid": st.st_uid,
            }
        except OSError as err:
            answer["disk"] = {"path": data_dir, "error": err.strerror or str(err)}
    key = base64.b64decode(request["gossip_key"]) if request.get("gossip_key") else None
    timeout = float(request.get("timeout", 1.5))
    source = request.get("source")
    jobs: list[tuple[str, str, int, Any]] = []
    for target in request.get("targets", []):
        for port in target.get("tcp", []):
            jobs.append(
                (target["name"], "tcp", port, lambda t=target, p=port: tcp_connect(source, t["host"], p, timeout))
            )
        for port in target.get("udp", []):
            if target.get("encrypted") and key is None:
                jobs.append((target["name"], "udp", port, None))
            else:
                jobs.append(
                    (target["name"], "udp", port, lambda t=target, p=port: udp_ping(source, t["host"], p, key, timeout))
                )
    results: list[dict[str, Any]] = [{} for _ in jobs]

    def run_job(i: int) -> None:
        name, proto, port, fn = jobs[i]
        if fn is None:
            results[i] = {"target": name, "proto": proto, "port": port, "ok": None, "detail": "untested: no gossip key"}
            return
        try:
            ok, detail = fn()
        except OSError as err:
            ok, detail = False, err.strerror or str(err)
        results[i] = {"target": name, "proto": proto, "port": port, "ok": ok, "detail": detail}

    threads = [threading.Thread(target=run_job, args=(i,)) for i in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    answer["reach"] = results
    if request.get("facts"):
        addr, route = _run(["ip", "-j", "addr", "show"]), _run(["ip", "-j", "-4", "route", "show"])
        answer["facts"] = {
            "addr": json.loads(addr) if addr else None,
            "route": json.loads(route) if route else None,
            "env": agent_env(pid) if pid is not None else {},
        }
    return answer


def main(request_json: str) -> None:
    print(json.dumps(probe(json.loads(request_json))))
