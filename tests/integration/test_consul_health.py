"""`clusterops consul status|check|gate|remove-stale-peers` on real Consul clusters."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests

from clusterops.lab.cluster import Lab
from clusterops.wait import Verdict, wait_until
from tests.conftest import CONSUL_A, LabFactory
from tests.integration.helpers import lab_env, run_cli, wait_for_state


def test_status_of_a_healthy_three_server_cluster(session_lab: Lab) -> None:
    result = run_cli("consul", "status", "--format", "json", env=lab_env(session_lab))
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    summary = doc["summary"]
    assert (summary["voters"], summary["quorum"], summary["failure_tolerance"]) == (3, 2, 1)
    assert summary["autopilot_failure_tolerance"] == 1
    assert summary["healthy"] is True
    assert summary["leader"] in {"s1", "s2", "s3"}
    rows = {r["node"]: r for r in doc["servers"]}
    assert set(rows) == {"s1", "s2", "s3"}
    for r in rows.values():
        assert r["voter"] is True
        assert r["version"] == CONSUL_A
        assert r["serf_status"] == "alive"
        assert r["healthy"] is True
        assert r["index_lag"] is not None and r["index_lag"] >= 0
        assert r["address"].endswith(":8300")
    assert [r["role"] for r in rows.values()].count("leader") == 1

    table = run_cli("consul", "status", env=lab_env(session_lab))
    assert table.returncode == 0
    assert "failure tolerance 1" in table.stdout and "quorum 2" in table.stdout


def test_check_on_a_healthy_cluster_passes_in_every_format(session_lab: Lab, tmp_path: Path) -> None:
    env = lab_env(session_lab)
    result = run_cli("consul", "check", "--format", "json", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    doc = json.loads(result.stdout)
    assert doc["counts"]["error"] == 0
    assert [f["rule"] for f in doc["findings"]] == ["CH013"]  # Consul's default autopilot: min_quorum 0
    junit = run_cli("consul", "check", "--format", "junit", env=env)
    assert junit.returncode == 0 and 'failures="0"' in junit.stdout
    sarif = run_cli("consul", "check", "--format", "sarif", env=env)
    assert json.loads(sarif.stdout)["version"] == "2.1.0"
    strict = run_cli("consul", "check", "--fail-on", "warning", env=env)
    assert strict.returncode == 1


def test_five_servers_tolerate_two_and_a_stopped_server_fails_check_then_gate_passes(make_lab: LabFactory) -> None:
    # min_quorum = 5 keeps autopilot from pruning the stopped server (what CH013 recommends).
    lab = make_lab(servers=5, extra_config="autopilot {\n  min_quorum = 5\n}")
    env = lab_env(lab)
    doc = json.loads(run_cli("consul", "status", "--format", "json", env=env).stdout)
    assert (doc["summary"]["voters"], doc["summary"]["quorum"], doc["summary"]["failure_tolerance"]) == (5, 3, 2)

    lab.stop("s4")
    state = wait_for_state(
        lab,
        lambda s: s.failure_tolerance == 1 and s.serf_status(next(p for p in s.raft if p.node == "s4")) == "failed",
        what="failure tolerance to drop to 1 and serf to see s4 failed",
    )
    assert state.autopilot_failure_tolerance == 1

    check = run_cli("consul", "check", "--format", "json", "--min-failure-tolerance", "2", env=env)
    assert check.returncode == 1
    rules = {f["rule"]: f for f in json.loads(check.stdout)["findings"]}
    assert "CH003" in rules and "consul force-leave s4" in rules["CH003"]["remedy"]
    assert "CH006" in rules

    gate = run_cli("consul", "gate", "--stable-window", "2s", "--timeout", "6s", "--interval", "500ms", env=env)
    assert gate.returncode == 1
    assert "timed out after 6s" in gate.stderr and "s4" in gate.stderr

    lab.start("s4")
    gate = run_cli("consul", "gate", "--stable-window", "3s", "--timeout", "90s", "--expect-servers", "5", env=env)
    assert gate.returncode == 0, gate.stderr
    assert "gate passed" in gate.stdout and "failure tolerance 2" in gate.stdout


def test_incident_replaced_server_stays_a_voter_until_removed(make_lab: LabFactory) -> None:
    # Autopilot's dead-server cleanup off, as in the incident's era: nothing removes the old server.
    lab = make_lab(servers=3, extra_config="autopilot {\n  cleanup_dead_servers = false\n}")
    env = lab_env(lab)
    prefix = lab.state().prefix
    lab.stop("s3", kill=True)  # the machine is destroyed without `consul leave`
    lab.wipe("s3")
    lab.add_server("s4", f"{prefix}.4")  # its replacement: a new node on a new address
    state = wait_for_state(
        lab,
        lambda s: len(s.voters) == 4 and s.serf_status(next(p for p in s.raft if p.node == "s3")) == "failed",
        what="s4 promoted to voter with s3 still a failed voter",
        timeout=90,
    )
    assert state.quorum == 3 and state.failure_tolerance == 0  # one more failure and no leader

    check = run_cli("consul", "check", "--format", "json", env=env)
    assert check.returncode == 1
    findings = {f["rule"]: f for f in json.loads(check.stdout)["findings"]}
    assert findings["CH003"]["subject"] == "s3"
    assert findings["CH003"]["remedy"].startswith("if s3 is gone for good: consul force-leave s3")
    assert "CH006" in findings

    dry = run_cli("consul", "remove-stale-peers", env=env)
    assert dry.returncode == 1 and "consul force-leave s3" in dry.stdout and "dry run" in dry.stdout
    assert len(wait_for_state(lab, lambda s: True, what="read").voters) == 4  # dry run changed nothing

    unconfirmed = run_cli("consul", "remove-stale-peers", "--apply", env=env)  # no terminal to ask, no --yes
    assert unconfirmed.returncode == 2 and "confirm with --yes" in unconfirmed.stderr, unconfirmed.stderr
    assert len(wait_for_state(lab, lambda s: True, what="read").voters) == 4  # nothing changed

    applied = run_cli("consul", "remove-stale-peers", "--apply", "--yes", env=env)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert "s3: removed from raft" in applied.stdout
    after = wait_for_state(
        lab,
        lambda s: len(s.voters) == 3 and s.failure_tolerance == 1 and s.autopilot_failure_tolerance == 1,
        what="a clean configuration, also in autopilot's view",
    )
    assert {p.node for p in after.voters} == {"s1", "s2", "s4"}
    final = run_cli("consul", "check", "--format", "json", env=env)
    assert final.returncode == 0, final.stdout


def test_remove_stale_peers_refuses_a_peer_that_answers(make_lab: LabFactory) -> None:
    # s3 is a dead voter to serf's eyes only if it stops; a live one is never touched.
    lab = make_lab(servers=3)
    result = run_cli("consul", "remove-stale-peers", "--apply", "--yes", env=lab_env(lab))
    assert result.returncode == 0 and "no stale raft peers" in result.stdout


def test_gate_waits_for_a_new_leader_and_stability(make_lab: LabFactory) -> None:
    lab = make_lab(servers=3)
    env = lab_env(lab, server="s1")
    old = wait_for_state(lab, lambda s: s.leader is not None, what="a leader").leader
    assert old is not None
    lab.stop(old.node, kill=True)
    follower = next(s.name for s in lab.state().servers if s.name != old.node)
    env["CONSUL_HTTP_ADDR"] = lab.state().server(follower).http_addr
    started = time.monotonic()
    gate = subprocess.Popen(
        [sys.executable, "-m", "clusterops.cli.main", "consul", "gate", "--stable-window", "3s", "--timeout", "90s"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(4)
    assert gate.poll() is None, "the gate passed while the old leader was dead"
    lab.start(old.node)
    out, err = gate.communicate(timeout=120)
    assert gate.returncode == 0, err
    assert time.monotonic() - started >= 7  # 4s dead + at least the 3s window
    assert "gate passed" in out
    assert any(word in err for word in ("no leader", "stale or dead", "not healthy", "leader changed"))


def test_acl_token_without_operator_read_is_exit_2_naming_the_permission(make_lab: LabFactory, tmp_path: Path) -> None:
    lab = make_lab(servers=3, acl=True)
    addr = lab.state().server("s1").http_addr
    headers = {"X-Consul-Token": lab.management_token() or ""}
    rules = 'node_prefix "" { policy = "read" }'
    r = requests.put(f"{addr}/v1/acl/policy", json={"Name": "nodes-read", "Rules": rules}, headers=headers, timeout=10)
    r.raise_for_status()
    r = requests.put(f"{addr}/v1/acl/token", json={"Policies": [{"Name": "nodes-read"}]}, headers=headers, timeout=10)
    r.raise_for_status()
    weak = tmp_path / "weak.token"
    weak.write_text(r.json()["SecretID"])

    env = lab_env(lab, CONSUL_HTTP_TOKEN_FILE=str(weak))
    for command in (["consul", "status"], ["consul", "check"], ["consul", "gate", "--timeout", "5s"]):
        result = run_cli(*command, env=env)
        assert result.returncode == 2, (command, result.stdout, result.stderr)
        assert "operator:read" in result.stderr
        assert "Traceback" not in result.stderr
        assert r.json()["SecretID"] not in result.stderr + result.stdout

    good = run_cli("consul", "check", "--format", "json", env=lab_env(lab))
    assert good.returncode == 0, good.stderr
    no_token = {k: v for k, v in lab_env(lab).items() if k != "CONSUL_HTTP_TOKEN_FILE"}
    anonymous = run_cli("consul", "status", env=no_token)
    assert anonymous.returncode == 2 and "Traceback" not in anonymous.stderr

    # Filtered answers are not facts: with only operator = "read", Consul answers /v1/agent/members
    # with [] and HTTP 200 (and X-Consul-Results-Filtered-By-ACLs: true). Nothing may be judged from it.
    op_rules = 'operator = "read"'
    r = requests.put(f"{addr}/v1/acl/policy", json={"Name": "op-read", "Rules": op_rules}, headers=headers, timeout=10)
    r.raise_for_status()
    r = requests.put(f"{addr}/v1/acl/token", json={"Policies": [{"Name": "op-read"}]}, headers=headers, timeout=10)
    r.raise_for_status()
    op_token = {"X-Consul-Token": r.json()["SecretID"]}
    members = wait_until(  # a follower knows the new token once it applied the raft write
        lambda: requests.get(f"{addr}/v1/agent/members", headers=op_token, timeout=10),
        lambda resp: Verdict(resp.status_code != 403, "token not replicated yet"),
        timeout=30,
        interval=0.2,
        what="the new token",
    ).observation
    assert members.status_code == 200 and members.json() == []  # the filter this guards against
    assert members.headers.get("X-Consul-Results-Filtered-By-ACLs") == "true"
    op_only = tmp_path / "op-read.token"
    op_only.write_text(r.json()["SecretID"])
    env = lab_env(lab, CONSUL_HTTP_TOKEN_FILE=str(op_only))
    for command in (
        ["consul", "status", "-f", "json"],
        ["consul", "check", "-f", "json"],
        ["consul", "gate", "--timeout", "5s"],
        ["consul", "remove-stale-peers", "--apply", "--yes"],
    ):
        result = run_cli(*command, env=env)
        assert result.returncode == 2, (command, result.stdout, result.stderr)
        assert "node:read" in result.stderr and "filtered by ACLs" in result.stderr
        assert "force-leave" not in result.stdout + result.stderr and "CH003" not in result.stdout
        assert r.json()["SecretID"] not in result.stderr + result.stdout
    assert len(wait_for_state(lab, lambda s: True, what="read").voters) == 3  # nothing was removed

    unknown = tmp_path / "unknown.token"
    unknown.write_text("0b1c3f5e-6a7b-4c8d-9e0f-123456789abc")
    invalid = run_cli("consul", "check", env=lab_env(lab, CONSUL_HTTP_TOKEN_FILE=str(unknown)))
    assert invalid.returncode == 2 and "ACL not found" in invalid.stderr
    assert "permission denied" not in invalid.stderr


def test_connection_refused_is_exit_2_with_a_message(tmp_path: Path) -> None:
    env = {"CONSUL_HTTP_ADDR": "127.0.0.254:1", "PATH": "/usr/bin:/bin"}
    result = run_cli("consul", "status", env=env)
    assert result.returncode == 2
    assert "cannot connect to http://127.0.0.254:1" in result.stderr
    assert "Traceback" not in result.stderr


def test_check_observe_reports_a_leader_change(make_lab: LabFactory) -> None:
    lab = make_lab(servers=3)
    leader = wait_for_state(lab, lambda s: s.leader is not None, what="a leader").leader
    assert leader is not None
    follower = next(s.name for s in lab.state().servers if s.name != leader.node)
    proc = subprocess.Popen(
        [sys.executable, "-m", "clusterops.cli.main", "consul", "check", "--observe", "8s", "-f", "json"],
        env=lab_env(lab, server=follower), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stderr is not None
    assert f"leader now: {leader.node}" in proc.stderr.readline()  # the watch has seen the leader
    lab.stop(leader.node, kill=True)
    wait_for_state(
        lab, lambda s: s.leader is not None and s.leader.node != leader.node, what="new leader", server=follower
    )
    lab.start(leader.node)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode in (0, 1), err
    findings = {f["rule"]: f for f in json.loads(out)["findings"]}
    assert "CH018" in findings, findings
    assert f"{leader.node} -> " in findings["CH018"]["message"]


def _pid(lab: Lab, name: str) -> int:
    pid = lab.state().server(name).pid
    assert pid is not None
    return pid


def _outage(lab: Lab, server: str) -> dict[str, Any]:
    status = run_cli("consul", "status", "-f", "json", env=lab_env(lab, server=server))
    assert status.returncode == 0, status.stderr
    outage: dict[str, Any] = json.loads(status.stdout)["outage"]
    return outage


def _recover_with_peers_json(lab: Lab, survivors: list[str], peers: list[dict[str, Any]]) -> None:
    """Consul's outage recovery, as the CH019 remedy says: stop the survivors, write peers.json, start."""
    for name in survivors:
        lab.stop(name)
    for name in survivors:
        (lab.node_dir(name) / "data" / "raft" / "peers.json").write_text(json.dumps(peers))
    for name in survivors:
        lab.start(name, wait=False)
    for name in survivors:
        lab.wait_agent(lab.state().server(name), timeout=60)


def test_hung_agent_election_and_lost_quorum_on_three_servers(make_lab: LabFactory) -> None:
    # min_quorum = 3: autopilot must not prune the first dead server while two are alive
    lab = make_lab(servers=3, extra_config="autopilot {\n  min_quorum = 3\n}")
    env = lab_env(lab, server="s1")

    # A hung agent (SIGSTOP: the kernel still accepts connections): the gate's --timeout is a deadline.
    os.kill(_pid(lab, "s1"), signal.SIGSTOP)
    try:
        hung = run_cli("consul", "gate", "--timeout", "5s", "--interval", "1s", env=env)
    finally:
        os.kill(_pid(lab, "s1"), signal.SIGCONT)
    assert hung.returncode == 1, hung.stderr
    assert "timed out after 5s" in hung.stderr and "did not answer in time" in hung.stderr
    assert "overran the deadline" not in hung.stderr
    wait_for_state(lab, lambda s: s.leader is not None and len(s.healthy_voters) == 3, what="healthy again")

    # The leader dies; a check run at once, mid-election, reports the cluster, not a raw 500.
    leader = wait_for_state(lab, lambda s: s.leader is not None, what="a leader").leader
    assert leader is not None
    follower = next(s.name for s in lab.state().servers if s.name != leader.node)
    checks = []
    lab.stop(leader.node, kill=True)
    for _ in range(3):  # staggered across the election window (the follower still names the dead leader)
        checks.append(subprocess.Popen(
            [sys.executable, "-m", "clusterops.cli.main", "consul", "check", "-f", "json"],
            env=lab_env(lab, server=follower), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        ))  # fmt: skip
        time.sleep(0.3)
    for proc in checks:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode != 2, err  # never a connection error: the election is a state, not a failure
        assert "Traceback" not in err and "500" not in err
        json.loads(out)  # a report, whatever the moment: before the followers' heartbeat timeout (about 1 s
        # with raft_multiplier 1) the cluster itself still names the dead leader, so what the summary names is
        # timing, not a property to assert

    # A second voter dies: quorum is lost. Every command answers at once with the outage.
    second = next(s.name for s in lab.state().servers if s.name not in (leader.node, follower))
    lab.stop(second, kill=True)
    survivor_env = lab_env(lab, server=follower)
    wait_for_state(lab, lambda s: s.quorum_lost and len(s.alive_voters) == 1, what="serf to see 2 failed",
                   server=follower)  # fmt: skip
    outage = _outage(lab, follower)
    assert outage["quorum_lost"] is True and outage["alive_voters"] == [follower]
    assert outage["dead_voters"] == sorted([leader.node, second])
    check = run_cli("consul", "check", "-f", "json", env=survivor_env)
    assert check.returncode == 1, check.stderr
    findings = {f["rule"]: f for f in json.loads(check.stdout)["findings"]}
    assert "CH019" in findings and "CH003" not in findings
    assert f"1 of 3 voters alive ({follower})" in findings["CH019"]["message"]
    assert json.dumps(outage["peers_json"], separators=(",", ":")) in findings["CH019"]["remedy"]
    removal = run_cli("consul", "remove-stale-peers", "--apply", "--yes", env=survivor_env)
    assert removal.returncode == 1 and "nothing removed: the cluster has no leader" in removal.stdout
    gate = run_cli("consul", "gate", "--timeout", "5s", env=survivor_env)
    assert gate.returncode == 1 and "quorum lost" in gate.stderr and "overran" not in gate.stderr

    # The offered peers.json really recovers the survivor.
    _recover_with_peers_json(lab, [follower], outage["peers_json"])
    after = wait_for_state(lab, lambda s: s.leader is not None, what="a leader after recovery", server=follower)
    assert after.leader is not None and after.leader.node == follower and len(after.voters) == 1


def test_three_of_five_voters_gone_recover_from_the_two_survivors(make_lab: LabFactory) -> None:
    lab = make_lab(servers=5, extra_config="autopilot {\n  min_quorum = 5\n}")
    for name in ("s1", "s3", "s5"):
        lab.stop(name, kill=True)
    wait_for_state(lab, lambda s: len(s.alive_voters) == 2 and s.quorum_lost, what="serf to see 3 failed",
                   server="s2")  # fmt: skip
    outage = _outage(lab, "s2")
    assert outage["alive_voters"] == ["s2", "s4"] and outage["dead_voters"] == ["s1", "s3", "s5"]
    assert sorted(p["address"].split(".")[-1] for p in outage["peers_json"]) == ["2:8300", "4:8300"]
    assert all(p["non_voter"] is False and p["id"] for p in outage["peers_json"])
    check = run_cli("consul", "check", "-f", "json", env=lab_env(lab, server="s4"))
    assert check.returncode == 1
    assert json.loads(check.stdout)["findings"][0]["rule"] == "CH019"

    _recover_with_peers_json(lab, ["s2", "s4"], outage["peers_json"])
    after = wait_for_state(lab, lambda s: s.leader is not None and len(s.voters) == 2, what="a leader", server="s2")
    assert {p.node for p in after.voters} == {"s2", "s4"}


def test_an_unknown_format_fails_before_any_io() -> None:
    env = {"CONSUL_HTTP_ADDR": "http://127.0.0.254:1", "PATH": "/usr/bin:/bin"}
    for command in (["check", "-f", "xml"], ["check", "--observe", "30s", "-f", "xml"], ["status", "-f", "xml"],
                    ["gate", "-f", "xml"]):  # fmt: skip
        result = run_cli("consul", *command, env=env)
        assert result.returncode == 2, (command, result.stderr)
        assert "unknown format 'xml'" in result.stderr and "cannot connect" not in result.stderr
