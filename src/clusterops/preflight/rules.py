"""Host preflight rules: pure functions from what the probes saw (and what the config names) to findings.

Rule ids are stable (PF...). The numbers behind them:

- PF002 `--min-nofile` (default 65536): the `LimitNOFILE=65536` of the systemd unit that Consul ships in its
  own Linux packages (consul v1.14.11 `.release/linux/package/usr/lib/systemd/system/consul.service`); OpenBao's
  and Vault's units use the same figure. A distribution's default of 1024 is what "Too many open files" is
  made of.
- PF003 grows with the cluster: a server may hold, for every member of its LAN pool, one long-lived RPC
  connection (client agents keep one multiplexed connection to a server, and all clients of a failed server
  move to the others at once) and one gossip TCP connection (push/pull state sync, and probes that fall
  back to TCP), plus headroom for raft peers, HTTP/DNS/gRPC clients, snapshots, logs and the runtime:
  `needed = 2 x members + 1024`, with `members` the largest LAN member count any agent reports.
- PF004 warns at 80% of the soft limit in use and is an error at 95%.
- PF030 warns below 10% or 1 GiB free in the data dir's file system; PF040 is an error when two servers'
  clocks provably differ by more than `--max-clock-offset` (default 1s: the measured offset minus the
  uncertainty of measuring it through a process start or an ssh round trip).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from clusterops.findings import Finding, Rule, Severity, catalog

E, W, INFO = Severity.ERROR, Severity.WARNING, Severity.INFO

RULES: dict[str, Rule] = catalog(
    (
        Rule(
            "PF001",
            E,
            "the agent process cannot be found or read on its host",
            "Check that the agent runs; give the inventory's driver a systemd `unit` or a `pid` command.",
            doc=(
                "Without the agent's process (from the driver's systemd unit or pid command) its limits "
                "and sockets cannot be checked."
            ),
        ),
        Rule(
            "PF002",
            W,
            "open-file soft limit below the recommended floor",
            "Raise it where the agent starts: `LimitNOFILE=65536` in the systemd unit, then restart the agent.",
            doc=(
                "Consul's own systemd unit sets LimitNOFILE=65536 (OpenBao's and Vault's too); a "
                "distribution's default of 1024 runs out as 'Too many open files'."
            ),
        ),
        Rule(
            "PF003",
            E,
            "open-file limit too small for the cluster's size",
            "Raise LimitNOFILE to at least the figure given (2 per member + 1024), then restart the agent.",
            doc=(
                "A server may hold two connections per LAN member (RPC and gossip TCP) plus headroom: 2 x"
                " members + 1024 descriptors, members being the largest LAN member count any agent "
                "reports."
            ),
        ),
        Rule(
            "PF004",
            W,
            "most of the open-file limit is in use",
            "Raise LimitNOFILE, and look for connection leaks (many HTTP clients, watches).",
            doc=(
                "A warning at 80% of the soft open-file limit in use, an error at 95%: the next burst of "
                "connections fails."
            ),
        ),
        Rule(
            "PF005",
            W,
            "the systemd unit's LimitNOFILE differs from the running process's limit",
            "The unit changed since the agent started: restart it (during a maintenance window) to apply.",
            doc=(
                "systemd applies LimitNOFILE when the agent starts: a unit changed since then takes "
                "effect only at the next restart."
            ),
        ),
        Rule(
            "PF010",
            E,
            "a port the configuration names is not listening",
            "Check the agent's log for bind errors and the configuration's addresses and ports.",
            doc=(
                "A port of the agent's effective configuration where nothing listens: the agent failed to"
                " bind it, or listens elsewhere."
            ),
        ),
        Rule(
            "PF011",
            E,
            "a port the configuration names is held by another process",
            "Stop the other process or move one of them: the agent cannot (re)start while the port is taken.",
            doc=(
                "Another process holds a port of the agent's configuration: the agent cannot (re)start "
                "while it is taken."
            ),
        ),
        Rule(
            "PF012",
            W,
            "a port the configuration names is held by a process the probe cannot identify",
            "Run the probe with the rights to read /proc/PID/fd of the agent's user (root, or as that user), "
            "or check by hand with `ss -ltnup`.",
            doc=(
                "Something listens on the port but the probe cannot see whose socket it is (other users' "
                "/proc/PID/fd): it may be another process, so it is never an OK."
            ),
        ),
        Rule(
            "PF020",
            E,
            "a TCP port of a server cannot be reached from another server",
            "Open the port between the two hosts (firewall, security group, routing).",
            doc=(
                "Servers reach each other over TCP (server RPC, serf): a blocked port breaks raft or "
                "gossip between two hosts."
            ),
        ),
        Rule(
            "PF021",
            E,
            "UDP gossip between two servers is dropped",
            "Open UDP on the serf ports between the two hosts; over TCP alone, failure detection is slow "
            "and memberlist logs 'UDP probes failed, network may be misconfigured'.",
            doc=(
                "Memberlist probes over UDP; when UDP is dropped it falls back to TCP, failure detection "
                "slows and it logs 'UDP probes failed, network may be misconfigured'."
            ),
        ),
        Rule(
            "PF022",
            INFO,
            "UDP gossip not tested: gossip encryption is on and no key was given",
            "Give the gossip key with --gossip-key-file (or consul.gossip_key_file in the inventory).",
            doc="With gossip encryption on, a UDP probe needs the key; without it UDP was not tested.",
        ),
        Rule(
            "PF030",
            W,
            "little free space for the data directory",
            "Free or grow the file system.",
            doc=(
                "A warning below 10% or 1 GiB free in the data directory's file system: raft and "
                "snapshots stop when it fills."
            ),
        ),
        Rule(
            "PF031",
            W,
            "the data directory's permissions are loose or its owner is not the agent's user",
            "chown it to the agent's user and chmod go-w (the data dir holds the raft log and keys).",
            doc=(
                "The data directory holds the raft log and keys: writable by group or others, or owned by"
                " another user than the agent's, is unsafe."
            ),
        ),
        Rule(
            "PF032",
            E,
            "the data directory cannot be read",
            "Check the path in the configuration and its mode.",
            doc=("The data directory of the configuration cannot be read: a missing or wrong path, or its mode."),
        ),
        Rule(
            "PF040",
            E,
            "clock offset between servers above the threshold",
            "Run NTP (chrony, systemd-timesyncd) on every server; TLS and token expiry depend on the clock.",
            doc=(
                "TLS and token expiry depend on the clock: two servers whose clocks provably differ by "
                "more than --max-clock-offset (default 1s, the measured offset minus its uncertainty)."
            ),
        ),
    )
)


@dataclass(frozen=True)
class Endpoint:
    """A listener the configuration names: protocol, address (0.0.0.0 / :: = every address), port, role."""

    proto: str
    addr: str
    port: int
    what: str


@dataclass(frozen=True)
class Thresholds:
    min_nofile: int = 65536
    max_clock_offset: float = 1.0
    min_free_bytes: int = 1 << 30
    min_free_share: float = 0.10


def needed_nofile(members: int) -> int:
    return 2 * members + 1024


def _f(rule: str, subject: str, message: str, remedy: str | None = None) -> Finding:
    return Finding.of(RULES[rule], subject, message, remedy=remedy)


def _limit_text(value: int | None) -> str:
    return "unlimited" if value is None else str(value)


def process_findings(server: str, answer: Mapping[str, Any], members: int, th: Thresholds) -> list[Finding]:
    if answer.get("pid") is None:
        return [_f("PF001", server, answer.get("pid_error") or "no agent process")]
    if "limits" not in answer:
        return [_f("PF001", server, answer.get("limits_error") or "cannot read the agent's limits")]
    out: list[Finding] = []
    soft, hard = answer["limits"]["soft"], answer["limits"]["hard"]
    pid = answer["pid"]
    if soft is not None and soft < th.min_nofile:
        out.append(
            _f("PF002", server, f"pid {pid}: open-file soft limit {soft} (hard {_limit_text(hard)}) "
               f"is below {th.min_nofile}")
        )  # fmt: skip
    needed = needed_nofile(members)
    if soft is not None and soft < needed:
        out.append(
            _f("PF003", server, f"pid {pid}: open-file soft limit {soft} is below {needed} "
               f"(2 x {members} members + 1024)")
        )  # fmt: skip
    used = int(answer.get("open_fds", 0))
    if soft:
        share = used / soft
        if share >= 0.8:
            finding = _f("PF004", server, f"pid {pid}: {used} of {soft} descriptors open ({share:.0%})")
            out.append(finding if share < 0.95 else _with_severity(finding, E))
    unit_limit = answer.get("unit_limit")
    if unit_limit and unit_limit.isdigit() and soft is not None and int(unit_limit) != soft:
        out.append(
            _f("PF005", server, f"pid {pid} runs with {soft} open files, its unit now says LimitNOFILE={unit_limit}")
        )
    return out


def _with_severity(finding: Finding, severity: Severity) -> Finding:
    from dataclasses import replace

    return replace(finding, severity=severity)


def _covers(listen_addr: str, wanted: str) -> bool:
    return listen_addr == wanted or listen_addr in ("0.0.0.0", "::") or wanted in ("0.0.0.0", "::")


def listener_findings(server: str, answer: Mapping[str, Any], endpoints: Iterable[Endpoint]) -> list[Finding]:
    """Each endpoint must be held by the agent's pid; held by another process or not at all is a finding."""
    pid = answer.get("pid")
    out: list[Finding] = []
    for ep in endpoints:
        holders = [
            s for s in answer.get("listeners", []) if s["proto"] == ep.proto and s["port"] == ep.port
            and _covers(s["addr"], ep.addr)
        ]  # fmt: skip
        where = f"{ep.proto} {ep.addr}:{ep.port} ({ep.what})"
        others = [s for s in holders if s["pid"] is not None and s["pid"] != pid]
        if others:
            who = ", ".join(sorted({f"pid {s['pid']} on {s['addr']}" for s in others}))
            out.append(_f("PF011", server, f"{where} is held by {who}, not by the agent (pid {pid or 'none'})"))
        elif not holders:
            out.append(_f("PF010", server, f"{where}: nothing listens there"))
        elif not any(s["pid"] is not None and s["pid"] == pid for s in holders):
            # every holder is of unknown owner (the probe may not read other users' descriptors): it may
            # be another process, so never an OK
            out.append(
                _f("PF012", server, f"{where}: something listens there, but this probe cannot tell which process "
                   f"(it may not read the descriptors of other users' processes); the agent is pid {pid or 'unknown'}")
            )  # fmt: skip
    return out


def disk_findings(server: str, answer: Mapping[str, Any], th: Thresholds) -> list[Finding]:
    disk = answer.get("disk")
    if not disk:
        return []
    if "error" in disk:
        return [_f("PF032", server, f"data dir {disk['path']}: {disk['error']}")]
    out: list[Finding] = []
    free, total = int(disk["free"]), int(disk["total"]) or 1
    if free < th.min_free_bytes or free / total < th.min_free_share:
        out.append(
            _f("PF030", server, f"data dir {disk['path']}: {free / 2**30:.1f} GiB free of {total / 2**30:.1f} GiB "
               f"({free / total:.0%})")
        )  # fmt: skip
    problems = []
    if disk["mode"] & 0o022:
        problems.append(f"mode {disk['mode']:04o} lets group or others write")
    if answer.get("uid") is not None and disk["uid"] != answer["uid"]:
        problems.append(f"owned by uid {disk['uid']}, the agent runs as uid {answer['uid']}")
    if problems:
        out.append(_f("PF031", server, f"data dir {disk['path']}: " + "; ".join(problems)))
    return out


@dataclass(frozen=True)
class Probe:
    """One reachability probe: from `source` to `target`'s `proto`/`port`; ok None = not tested."""

    source: str
    target: str
    proto: str
    port: int
    ok: bool | None
    detail: str


def reach_findings(probes: Iterable[Probe]) -> list[Finding]:
    out: list[Finding] = []
    untested: set[str] = set()
    for p in probes:
        if p.ok is None:
            untested.add(p.source)
        elif not p.ok:
            rule = "PF021" if p.proto == "udp" else "PF020"
            out.append(_f(rule, f"{p.source} -> {p.target}", f"{p.proto} {p.port}: {p.detail}"))
    out += [_f("PF022", s, "UDP gossip probes from this server were not sent") for s in sorted(untested)]
    return out


def clock_findings(offsets: Mapping[str, tuple[float, float]], th: Thresholds) -> list[Finding]:
    """`offsets`: server -> (offset from this machine's clock, uncertainty). Pairwise provable differences."""
    out: list[Finding] = []
    names = sorted(offsets)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            (oa, ua), (ob, ub) = offsets[a], offsets[b]
            provable = abs(oa - ob) - (ua + ub)
            if provable > th.max_clock_offset:
                out.append(
                    _f("PF040", f"{a} / {b}", f"clocks differ by about {abs(oa - ob):.2f}s "
                       f"(at least {provable:.2f}s), more than {th.max_clock_offset:g}s")
                )  # fmt: skip
    return out
