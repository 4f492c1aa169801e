"""docker-compose.yml on a real Docker engine: up, clusterops on the published ports, validate inside the
containers, a rolling upgrade one container at a time, and down.

The engine is private to this module (tests/integration/docker_engine.py): Debian's dockerd with its own data root
and socket, no iptables, no default bridge. The images the compose file names are stand-ins built here from the
lab's own static binaries (no registry is reachable). The servers start on Consul A so that the upgrade test can
roll them to B with the shipped inventory's commands (deploy/compose/inventory.yaml).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from clusterops.lab import binaries
from clusterops.validate.live import host_from_ip_json
from tests.conftest import CONSUL_A, CONSUL_B, IN_CI, require_binaries
from tests.integration.docker_engine import DockerEngine, EngineError
from tests.integration.helpers import run_cli
from tests.integration.writer import Writer

ROOT = Path(__file__).resolve().parents[2]
CONSUL = ("consul-1", "consul-2", "consul-3")
PORT_VARS = {"consul-1": "CONSUL_1_HTTP_PORT", "consul-2": "CONSUL_2_HTTP_PORT", "consul-3": "CONSUL_3_HTTP_PORT"}
PROJECT = "clusterops-lab"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def engine() -> Iterator[DockerEngine]:
    require_binaries(vault=True)
    try:
        eng = DockerEngine.start()
    except (EngineError, OSError) as err:
        if IN_CI:
            pytest.fail(f"CI=true and the private Docker engine could not start: {err}")
        pytest.skip(f"no Docker engine here: {err} (run `make docker-deps`)")
    try:
        eng.build_standins([CONSUL_A, CONSUL_B], [binaries.DEFAULT_OPENBAO])
        yield eng
    finally:
        eng.stop()


class Compose:
    """The compose project on the engine, with its published ports chosen free on this machine."""

    def __init__(self, engine: DockerEngine) -> None:
        self.engine = engine
        self.ports = {name: _free_port() for name in CONSUL}
        self.vault_port = _free_port()
        self.env = {
            "COMPOSE_FILE": str(ROOT / "docker-compose.yml"),
            "CONSUL_VERSION": CONSUL_A,
            "OPENBAO_VERSION": binaries.DEFAULT_OPENBAO,
            "OPENBAO_HTTP_PORT": str(self.vault_port),
            **{PORT_VARS[name]: str(port) for name, port in self.ports.items()},
        }

    def run(self, *args: str, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return self.engine.compose(*args, project_dir=ROOT, env=self.env, check=check, timeout=timeout)

    def addr(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def cli_env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in self.engine.env.items() if not k.startswith(("CONSUL_", "VAULT_", "BAO_"))}
        env.update(self.env)
        env["CONSUL_HTTP_ADDR"] = self.addr("consul-1")
        env.update(extra)
        return env

    def netns_run(self, service: str, argv: list[str], env: dict[str, str] | None = None) -> str:
        """Run a host program inside `service`'s network namespace (its real eth0 and lo), not in its filesystem."""
        pid = self.engine.container_pid(f"{PROJECT}-{service}-1")
        proc = subprocess.run(
            ["nsenter", f"--net=/proc/{pid}/ns/net", "--", *argv],
            capture_output=True,
            text=True,
            check=False,
            env=env,
            timeout=120,
        )
        assert proc.returncode in (0, 1), f"{argv}: {proc.stderr[-2000:]}"
        return proc.stdout


@pytest.fixture(scope="module")
def compose(engine: DockerEngine) -> Iterator[Compose]:
    project = Compose(engine)
    try:
        project.run("up", "-d", "--wait", "--wait-timeout", "240")
    except EngineError as err:
        logs = project.run("logs", "--no-color", "--tail", "30", check=False).stdout[-4000:]
        project.run("down", "-v", check=False)
        pytest.fail(f"docker compose up failed: {err}\n{logs}")
    try:
        yield project
    finally:
        project.run("down", "-v", "--remove-orphans", check=False)


def _ps(compose: Compose) -> list[dict[str, Any]]:
    out = compose.run("ps", "--all", "--format", "json").stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def test_up_brings_every_service_to_healthy(compose: Compose) -> None:
    states = {c["Service"]: (c["State"], c.get("Health", "")) for c in _ps(compose)}
    assert states == dict.fromkeys((*CONSUL, "vault-1"), ("running", "healthy"))
    images = {c["Service"]: c["Image"] for c in _ps(compose)}
    assert images["consul-1"] == f"hashicorp/consul:{CONSUL_A}"
    assert images["vault-1"] == f"openbao/openbao:{binaries.DEFAULT_OPENBAO}"


def test_consul_status_check_and_gate_on_the_published_ports(compose: Compose) -> None:
    env = compose.cli_env()
    status = run_cli("consul", "status", "-f", "json", env=env)
    assert status.returncode == 0, status.stderr
    doc = json.loads(status.stdout)
    text = json.dumps(doc)
    for name in CONSUL:
        assert name in text
    assert doc["summary"]["voters"] == 3 and doc["summary"]["leader"] in CONSUL, doc["summary"]
    check = run_cli("consul", "check", "-f", "json", env=env)
    assert check.returncode == 0, check.stdout + check.stderr
    gate = run_cli("consul", "gate", "--expect-servers", "3", "--stable-window", "2s", "--timeout", "60s", env=env)
    assert gate.returncode == 0, gate.stdout + gate.stderr


def test_kv_against_the_compose_openbao(compose: Compose) -> None:
    """vault-1 is a real (non-dev) server: initialise and unseal it over its published API, enable KV v2, then
    drive it with clusterops kv. The root token stays in this process (environment only, never argv)."""
    api = f"http://127.0.0.1:{compose.vault_port}"
    init = requests.put(f"{api}/v1/sys/init", json={"secret_shares": 1, "secret_threshold": 1}, timeout=30)
    assert init.status_code == 200, init.text
    keys, root = init.json()["keys_base64"], init.json()["root_token"]
    unseal = requests.put(f"{api}/v1/sys/unseal", json={"key": keys[0]}, timeout=30)
    assert unseal.status_code == 200 and unseal.json()["sealed"] is False
    headers = {"X-Vault-Token": root}
    for _ in range(60):  # the raft node becomes active shortly after unsealing
        if requests.get(f"{api}/v1/sys/health", timeout=5).status_code == 200:
            break
        import time

        time.sleep(0.5)
    mount = requests.post(
        f"{api}/v1/sys/mounts/secret", json={"type": "kv", "options": {"version": "2"}}, headers=headers, timeout=30
    )
    assert mount.status_code == 204, mount.text
    env = compose.cli_env(VAULT_ADDR=api, VAULT_TOKEN=root)
    put = run_cli("kv", "put", "secret/compose/app", "user=alice", env=env)
    assert put.returncode == 0, put.stderr
    get = run_cli("kv", "get", "-f", "json", "secret/compose/app", env=env)
    assert get.returncode == 0, get.stderr
    assert root not in put.stdout + put.stderr + get.stdout + get.stderr
    history = run_cli("kv", "history", "secret/compose/app", env=env)
    assert history.returncode == 0, history.stderr


def _verdicts(stdout: str) -> list[tuple[str, str, str]]:
    doc = json.loads(stdout)
    return sorted((f["rule"], f["severity"], f["subject"]) for f in doc["findings"])


def test_validate_live_inside_each_container_agrees_with_facts_gathered_from_it(
    compose: Compose, tmp_path: Path
) -> None:
    """`validate --live` runs in each container's network namespace, so go-sockaddr templates meet a real eth0;
    facts gathered there with `ip -j` give the same verdicts through `--facts`, and match deploy/compose/facts.yaml."""
    cli = [sys.executable, "-m", "clusterops.cli.main"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))}
    shipped = yaml.safe_load((ROOT / "deploy" / "compose" / "facts.yaml").read_text())["nodes"]
    compose_doc = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    gathered: dict[str, Any] = {}
    for service in (*CONSUL, "vault-1"):
        addr = json.loads(compose.netns_run(service, ["ip", "-j", "addr", "show"]))
        route = json.loads(compose.netns_run(service, ["ip", "-j", "-4", "route", "show"]))
        host = host_from_ip_json(addr, route)
        node: dict[str, Any] = {
            "interfaces": [
                {"name": i.name, "flags": sorted(i.flags), "addresses": [str(a) for a in i.addresses]}
                for i in host.interfaces
            ],
            "default_route": host.default_interface,
        }
        eth0 = next(i for i in node["interfaces"] if i["name"] == "eth0")
        shipped_eth0 = next(i for i in shipped[service]["interfaces"] if i["name"] == "eth0")
        assert [a for a in eth0["addresses"] if "." in a] == shipped_eth0["addresses"], service
        assert node["default_route"] == shipped[service]["default_route"] == "eth0"
        if service == "vault-1":
            node["env"] = {str(k): str(v) for k, v in compose_doc["services"]["vault-1"]["environment"].items()}
        gathered[service] = node
    facts = tmp_path / "facts.yaml"
    facts.write_text(yaml.safe_dump({"nodes": gathered}))

    for service in CONSUL:
        config = str(ROOT / "deploy" / "compose" / "consul" / service)
        live = compose.netns_run(service, [*cli, "validate", "consul", config, "--live", "-f", "json"], env=env)
        offline = run_cli("validate", "consul", config, "--facts", str(facts), "-f", "json", env=env)
        assert offline.returncode == 0, offline.stdout
        assert _verdicts(live) == _verdicts(offline.stdout), service
        assert not [v for v in _verdicts(live) if v[1] == "error"], live
    # Not only agreement on silence: a copy whose templates select a network the container does not have must
    # fail the same way live and from the gathered facts.
    broken = tmp_path / "consul-1-broken"
    broken.mkdir()
    text = (ROOT / "deploy" / "compose" / "consul" / "consul-1" / "server.hcl").read_text()
    (broken / "server.hcl").write_text(text.replace("172.28.0.0/16", "10.99.0.0/16"))
    live = compose.netns_run("consul-1", [*cli, "validate", "consul", str(broken), "--live", "-f", "json"], env=env)
    offline = run_cli("validate", "consul", str(broken), "--facts", str(facts), "-f", "json", env=env)
    errors = [v for v in _verdicts(live) if v[1] == "error"]
    assert errors and _verdicts(live) == _verdicts(offline.stdout), (live, offline.stdout)
    vault_config = str(ROOT / "deploy" / "compose" / "vault" / "vault-1.hcl")
    vault_env = {**env, **gathered["vault-1"]["env"]}
    live = compose.netns_run("vault-1", [*cli, "validate", "vault", vault_config, "--live", "-f", "json"], vault_env)
    offline = run_cli("validate", "vault", vault_config, "--facts", str(facts), "-f", "json", env=env)
    assert _verdicts(live) == _verdicts(offline.stdout)
    assert not [v for v in _verdicts(live) if v[1] == "error"], live


def test_rolling_upgrade_of_the_compose_cluster_one_container_at_a_time(compose: Compose, tmp_path: Path) -> None:
    """deploy/compose/inventory.yaml's exec commands, addresses pointed at this run's ports: 1.13.9 -> 1.14.11,
    followers first and the leader last, a writer running throughout, no acknowledged write lost."""
    inventory = yaml.safe_load((ROOT / "deploy" / "compose" / "inventory.yaml").read_text())
    for server in inventory["servers"]:
        server["address"] = compose.addr(server["name"])
    path = tmp_path / "inventory.yaml"
    path.write_text(yaml.safe_dump(inventory, sort_keys=False))
    env = compose.cli_env(CLUSTEROPS_STATE_DIR=str(tmp_path / "state"))
    env.pop("CONSUL_VERSION")  # the start command sets it per server
    writer = Writer([compose.addr(n) for n in CONSUL], rate=25)
    writer.start()
    try:
        result = run_cli(
            "consul", "upgrade", "-i", str(path), "--to", CONSUL_B, "--apply", "-f", "json", env=env, timeout=900
        )
    finally:
        log = writer.stop()
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    events = [json.loads(line) for line in result.stdout.splitlines()]
    order = [e["server"] for e in events if e["event"] == "stopping"]
    assert sorted(order) == sorted(CONSUL) and len(order) == 3
    leader_at_start = next(e for e in events if e["event"] == "start")["steps"][-1]
    assert order[-1] == leader_at_start
    images = {c["Service"]: c["Image"] for c in _ps(compose) if c["Service"] in CONSUL}
    assert images == dict.fromkeys(CONSUL, f"hashicorp/consul:{CONSUL_B}")
    assert len(log.acknowledged) >= 100
    assert writer.missing(compose.addr("consul-1")) == []


def test_down_leaves_nothing(compose: Compose) -> None:
    compose.run("down", "-v", "--remove-orphans")
    assert _ps(compose) == []
    volumes = compose.engine.docker("volume", "ls", "-q").stdout.split()
    assert not [v for v in volumes if v.startswith(PROJECT)], volumes
    networks = compose.engine.docker("network", "ls", "--format", "{{.Name}}").stdout.split()
    assert not [n for n in networks if n.startswith(PROJECT)], networks


def test_compose_config_resolves_the_variables(engine: DockerEngine) -> None:
    """`docker compose config`: the file is valid for Compose itself, and the version and port variables resolve."""
    env = {"CONSUL_VERSION": CONSUL_A, "CONSUL_2_HTTP_PORT": "18510"}
    out = engine.compose("config", "--format", "json", project_dir=ROOT, env=env).stdout
    services = json.loads(out)["services"]
    assert {services[n]["image"] for n in CONSUL} == {f"hashicorp/consul:{CONSUL_A}"}
    assert services["consul-2"]["ports"][0]["published"] == "18510"
    default = json.loads(engine.compose("config", "--format", "json", project_dir=ROOT).stdout)["services"]
    assert default["consul-1"]["image"] == f"hashicorp/consul:{binaries.CONSUL_TO}"
    assert default["vault-1"]["image"] == f"openbao/openbao:{binaries.DEFAULT_OPENBAO}"
