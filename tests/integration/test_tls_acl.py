"""A production-shaped lab: TLS everywhere and ACLs with default deny, on real Consul and OpenBao.

One module-scoped lab (3 Consul servers, HTTPS only with client certificates required, verified
RPC, ACLs; OpenBao on a TLS listener) carries the commands, the least-privilege policies and the
TLS failures people meet; a second, one-server lab has OpenBao requiring client certificates and
takes the expired certificates. Every CLI run goes through a subprocess, and its output is scanned
for tokens and key material.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hvac
import pytest
import requests

from clusterops.lab.cluster import Lab, vault_host
from clusterops.lab.inventory import lab_env
from clusterops.lab.processes import listening_sockets
from clusterops.wait import Verdict, wait_until
from tests.conftest import CONSUL_A, CONSUL_B, free_prefix, require_binaries
from tests.integration.helpers import run_cli

VERIFY_OFF = "warning: TLS certificate verification is off"


# -- labs and helpers ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls_lab(lab_root: Path) -> Iterator[Lab]:
    require_binaries(vault=True)
    lab = Lab(lab_root / "tls-acl")
    no_cleanup = "autopilot {\n  cleanup_dead_servers = false\n}"  # a killed server stays a stale peer
    lab.up(
        servers=3,
        consul_version=CONSUL_A,
        vault=True,
        acl=True,
        tls=True,
        prefix=free_prefix(),
        extra_config=no_cleanup,
    )
    try:
        yield lab
    finally:
        lab.down()


@pytest.fixture(scope="module")
def mtls_lab(lab_root: Path) -> Iterator[Lab]:
    """One Consul server and an OpenBao that requires client certificates; its certificates get expired."""
    require_binaries(vault=True)
    lab = Lab(lab_root / "tls-mtls")
    lab.up(servers=1, consul_version=CONSUL_A, vault=True, tls=True, vault_client_certs=True, prefix=free_prefix())
    try:
        yield lab
    finally:
        lab.down()


@pytest.fixture(scope="module")
def other_ca(tmp_path_factory: pytest.TempPathFactory, tls_lab: Lab) -> Path:
    """A second CA and a client certificate it signed (what a wrong CA / wrong client cert look like)."""
    from clusterops.lab import binaries

    where = tmp_path_factory.mktemp("other-ca")
    consul = str(binaries.consul_binary(CONSUL_A, build=False))
    subprocess.run([consul, "tls", "ca", "create"], cwd=where, check=True, capture_output=True)
    subprocess.run([consul, "tls", "cert", "create", "-client"], cwd=where, check=True, capture_output=True)
    return where


def env_for(lab: Lab, **extra: str) -> dict[str, str]:
    """The environment `eval "$(clusterops lab env)"` gives, plus VAULT_TOKEN, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CONSUL_", "VAULT_", "BAO_"))}
    env.update(dict(lab_env(lab)))
    if lab.state().vault:
        env["VAULT_TOKEN"] = lab.vault_token() or ""
    for key, value in extra.items():
        if value == "":
            env.pop(key, None)
        else:
            env[key] = value
    return env


def secrets_of(lab: Lab) -> list[str]:
    """What must never appear in any output: tokens and private key material."""
    found = [lab.management_token() or "", lab.vault_token() or ""]
    for key in lab.certs.dir.glob("*key.pem"):
        body = key.read_text()
        found.append(body.split("-----")[2].strip()[:40])  # the base64 body of the key
    return [s for s in found if s]


def cli(lab: Lab, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    done = run_cli(*args, env=env_for(lab, **env))
    out = done.stdout + done.stderr
    for secret in secrets_of(lab):
        assert secret not in out, f"a token or key leaked into the output of {args}"
    assert "Traceback" not in out, out
    return done


def one_error_line(done: subprocess.CompletedProcess[str]) -> str:
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, done.stderr
    return errors[0]


def consul_api(lab: Lab, method: str, path: str, body: Any = None) -> Any:
    """Consul's HTTP API with the management token (for making policies and tokens)."""
    s1 = lab.state().servers[0]
    cert, key = lab.certs.client
    resp = requests.request(
        method,
        f"{s1.http_addr}{path}",
        json=body,
        headers={"X-Consul-Token": lab.management_token() or ""},
        verify=str(lab.certs.ca),
        cert=(str(cert), str(key)),
        timeout=10,
    )
    resp.raise_for_status()
    return resp.json() if resp.content else None


def consul_token_file(lab: Lab, tmp_path: Path, rules: str) -> Path:
    """A token file (mode 0600) holding a new token with exactly `rules`."""
    name = f"t-{uuid.uuid4().hex[:8]}"
    policy = consul_api(lab, "PUT", "/v1/acl/policy", {"Name": name, "Rules": rules})
    token = consul_api(lab, "PUT", "/v1/acl/token", {"Policies": [{"ID": policy["ID"]}]})
    path = tmp_path / name
    path.write_text(token["SecretID"] + "\n")
    path.chmod(0o600)
    return path


def bao(lab: Lab) -> hvac.Client:
    settings = lab.vault_settings()
    cert = (settings.client_cert, settings.client_key) if settings.client_cert else None
    return hvac.Client(url=settings.address, token=settings.token, verify=settings.ca_cert, cert=cert)


def vault_token_with(lab: Lab, policy_hcl: str) -> str:
    """A token carrying exactly `policy_hcl`: no `default` policy."""
    client = bao(lab)
    name = f"p-{uuid.uuid4().hex[:8]}"
    client.sys.create_or_update_policy(name=name, policy=policy_hcl)
    made = client.auth.token.create(policies=[name], no_default_policy=True, ttl="10m")
    return str(made["auth"]["client_token"])


def drop_rule(hcl: str, index: int) -> str:
    """The policy with its `index`-th rule (a comment line, then the rule) removed."""
    blocks = hcl.strip().split("\n\n")
    header, rules = blocks[0], blocks[1:]
    return "\n\n".join([header, *(r for i, r in enumerate(rules) if i != index)]) + "\n"


# -- the lab itself ------------------------------------------------------------------------------


def test_tls_lab_serves_https_only_with_private_keys_and_env_names_every_file(tls_lab: Lab) -> None:
    state = tls_lab.state()
    ips = [s.ip for s in state.servers]
    listening = listening_sockets(ips)
    assert all(f"{ip}:8501" in listening for ip in ips)
    assert not any(sock.endswith(":8500") for sock in listening), "plain HTTP must be off"
    for key in tls_lab.certs.dir.glob("*key.pem"):
        assert key.stat().st_mode & 0o777 == 0o600, key
    assert tls_lab.management_token_file.stat().st_mode & 0o777 == 0o600
    assert (tls_lab.root / "vault" / "bao.log").stat().st_mode & 0o777 == 0o600  # dev mode logs the root token
    config = (tls_lab.node_dir("s1") / "config.hcl").read_text()
    for needle in ("verify_incoming", "verify_outgoing", "verify_server_hostname", "https = 8501", "http  = -1"):
        assert needle in config

    env = cli(tls_lab, "lab", "env", "--dir", str(tls_lab.root))
    assert env.returncode == 0, env.stderr
    ca = tls_lab.certs.ca
    for line in (
        f"export CONSUL_HTTP_ADDR=https://{ips[0]}:8501",
        f"export CONSUL_CACERT={ca}",
        f"export CONSUL_CLIENT_CERT={tls_lab.certs.client[0]}",
        f"export CONSUL_CLIENT_KEY={tls_lab.certs.client[1]}",
        f"export CONSUL_HTTP_TOKEN_FILE={tls_lab.management_token_file}",
        f"export VAULT_CACERT={ca}",
    ):
        assert line in env.stdout
    assert f"export VAULT_ADDR=https://{vault_host(tls_lab.state().prefix)}:" in env.stdout

    inventory = cli(tls_lab, "lab", "inventory", "--dir", str(tls_lab.root))
    assert f"ca_file: {ca}" in inventory.stdout
    assert f"address: https://{ips[0]}:8501" in inventory.stdout


def test_consul_and_kv_commands_work_over_tls_with_acls_and_leak_nothing(tls_lab: Lab) -> None:
    status = cli(tls_lab, "consul", "status", "-f", "json")
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["summary"]["voters"] == 3
    check = cli(tls_lab, "consul", "check", "--fail-on", "error")
    assert check.returncode == 0, check.stdout + check.stderr
    gate = cli(tls_lab, "consul", "gate", "--expect-servers", "3", "--stable-window", "0s", "--timeout", "60s")
    assert gate.returncode == 0, gate.stdout + gate.stderr
    stale = cli(tls_lab, "consul", "remove-stale-peers")
    assert stale.returncode == 0 and "no stale raft peers" in stale.stdout, stale.stdout + stale.stderr

    path = f"secret/tls-{uuid.uuid4().hex[:8]}/app"
    put = cli(tls_lab, "kv", "put", path, "user=app")
    assert put.returncode == 0, put.stderr
    assert "wrote version 1" in put.stdout
    get = cli(tls_lab, "kv", "get", path, "--field", "user")
    assert (get.returncode, get.stdout) == (0, "app")
    listed = cli(tls_lab, "kv", "list", path.rsplit("/", 1)[0])
    assert listed.stdout.split() == ["app"]
    meta = cli(tls_lab, "kv", "metadata", "get", path, "-f", "json")
    assert json.loads(meta.stdout)["current_version"] == 1
    assert cli(tls_lab, "kv", "delete", path).returncode == 0


def test_a_playbook_checks_gates_and_snapshots_over_tls_with_acls(tls_lab: Lab, tmp_path: Path) -> None:
    playbook = tmp_path / "pb.yaml"
    snap = tmp_path / "lab.snap"
    playbook.write_text(
        "name: tls-acl\nsteps:\n"
        "  - id: check\n    consul.check:\n      fail_on: error\n"
        "  - id: gate\n    consul.gate:\n      expect_servers: 3\n      stable_window: 0s\n      timeout: 60s\n"
        f"  - id: snapshot\n    consul.snapshot:\n      path: {snap}\n"
    )
    report = tmp_path / "report.json"
    done = cli(tls_lab, "run", str(playbook), "--apply", "--report", str(report), CLUSTEROPS_STATE_DIR=str(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    assert snap.stat().st_size > 0
    text = report.read_text()
    assert all(secret not in text for secret in secrets_of(tls_lab))


# -- TLS failures: one line, exit 2, naming the address and what failed -------------------------


def consul_failures(lab: Lab, other: Path) -> dict[str, tuple[dict[str, str], str]]:
    addr = lab.state().servers[0].http_addr
    return {
        "no CA": ({"CONSUL_CACERT": ""}, "not signed by a CA we trust (checked against the system CA store"),
        "wrong CA": (
            {"CONSUL_CACERT": str(other / "consul-agent-ca.pem")},
            f"checked against the CA file {other / 'consul-agent-ca.pem'}",
        ),
        "hostname": ({"CONSUL_TLS_SERVER_NAME": "wrong.example"}, "not valid for 'wrong.example' (hostname mismatch)"),
        "no client cert": (
            {"CONSUL_CLIENT_CERT": "", "CONSUL_CLIENT_KEY": ""},
            "requires a client certificate and none was sent",
        ),
        "wrong client cert": (
            {
                "CONSUL_CLIENT_CERT": str(other / "dc1-client-consul-0.pem"),
                "CONSUL_CLIENT_KEY": str(other / "dc1-client-consul-0-key.pem"),
            },
            "refused our client certificate",
        ),
        "cert without key": ({"CONSUL_CLIENT_KEY": ""}, "is set (" + str(lab.certs.client[0]) + ") but not its key"),
        "http to https": (
            {"CONSUL_HTTP_ADDR": addr.replace("https://", "http://")},
            f"{addr.replace('https://', 'http://')} expects HTTPS",
        ),
    }


@pytest.mark.parametrize(
    "case",
    ["no CA", "wrong CA", "hostname", "no client cert", "wrong client cert", "cert without key", "http to https"],
)
def test_consul_tls_failure_is_one_clear_line(tls_lab: Lab, other_ca: Path, case: str) -> None:
    env, want = consul_failures(tls_lab, other_ca)[case]
    done = cli(tls_lab, "consul", "status", **env)
    assert done.returncode == 2, done.stdout + done.stderr
    line = one_error_line(done)
    print(f"\nconsul {case}: {line}")  # the closing note's record of each failure mode (pytest -s)
    assert want in line
    if case not in ("cert without key",):
        assert tls_lab.state().servers[0].ip in line  # names the address


def vault_failures(lab: Lab, other: Path) -> dict[str, tuple[dict[str, str], str]]:
    vault = lab.state().vault
    assert vault is not None and vault.dev_addr
    return {
        "no CA": ({"VAULT_CACERT": ""}, "not signed by a CA we trust (checked against the system CA store"),
        "wrong CA": (
            {"VAULT_CACERT": str(other / "consul-agent-ca.pem")},
            f"checked against the CA file {other / 'consul-agent-ca.pem'}",
        ),
        "hostname": ({"VAULT_TLS_SERVER_NAME": "wrong.example"}, "not valid for 'wrong.example' (hostname mismatch)"),
        "http to https": (
            {"VAULT_ADDR": vault.addr.replace("https://", "http://")},
            f"{vault.addr.replace('https://', 'http://')} expects HTTPS",
        ),
        "https to http": (
            {"VAULT_ADDR": vault.dev_addr.replace("http://", "https://")},
            "does not speak TLS: HTTPS was sent to a plain HTTP port",
        ),
        "cert without key": (
            {"VAULT_CLIENT_CERT": str(lab.certs.client[0])},
            "is set (" + str(lab.certs.client[0]) + ") but not its key",
        ),
    }


@pytest.mark.parametrize(
    "case", ["no CA", "wrong CA", "hostname", "http to https", "https to http", "cert without key"]
)
def test_openbao_tls_failure_is_one_clear_line(tls_lab: Lab, other_ca: Path, case: str) -> None:
    env, want = vault_failures(tls_lab, other_ca)[case]
    done = cli(tls_lab, "kv", "list", "secret/", **env)
    assert done.returncode == 2, done.stdout + done.stderr
    print(f"\nopenbao {case}: {one_error_line(done)}")  # the closing note's record (pytest -s)
    assert want in one_error_line(done)


def test_https_to_a_plain_consul_port_says_it_does_not_speak_tls(session_lab: Lab, tls_lab: Lab) -> None:
    plain = session_lab.state().servers[0].http_addr
    done = cli(tls_lab, "consul", "status", CONSUL_HTTP_ADDR=plain.replace("http://", "https://"))
    assert done.returncode == 2
    assert f"{plain.replace('http://', 'https://')} does not speak TLS" in one_error_line(done)


def test_openbao_requiring_client_certificates(mtls_lab: Lab, other_ca: Path) -> None:
    ok = cli(mtls_lab, "kv", "list", "secret/")
    assert ok.returncode in (0, 2) and "TLS" not in ok.stderr, ok.stderr  # an empty mount is "nothing to list"
    missing = cli(mtls_lab, "kv", "list", "secret/", VAULT_CLIENT_CERT="", VAULT_CLIENT_KEY="")
    assert missing.returncode == 2
    assert "requires a client certificate and none was sent" in one_error_line(missing)
    wrong = cli(
        mtls_lab,
        "kv",
        "list",
        "secret/",
        VAULT_CLIENT_CERT=str(other_ca / "dc1-client-consul-0.pem"),
        VAULT_CLIENT_KEY=str(other_ca / "dc1-client-consul-0-key.pem"),
    )
    assert wrong.returncode == 2
    assert "refused our client certificate" in one_error_line(wrong)


OPENSSL_REQ = ["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
OPENSSL_CA = [
    "openssl",
    "ca",
    "-batch",
    "-config",
    "ca.cnf",
    "-startdate",
    "20200101000000Z",
    "-enddate",
    "20200201000000Z",
]


def expired_cert(lab: Lab, where: Path, sans: str) -> tuple[Path, Path]:
    """A certificate signed by the lab CA that expired in 2020, made with the openssl CLI (`openssl ca`)."""
    where.mkdir(parents=True, exist_ok=True)
    key, csr, cert = where / "key.pem", where / "req.csr", where / "cert.pem"
    subprocess.run(
        [
            *OPENSSL_REQ,
            "-keyout",
            str(key),
            "-out",
            str(csr),
            "-subj",
            "/CN=expired",
            "-addext",
            f"subjectAltName={sans}",
        ],
        check=True,
        capture_output=True,
    )
    (where / "index.txt").write_text("")
    (where / "serial").write_text("01\n")
    (where / "ca.cnf").write_text(
        "[ca]\ndefault_ca = lab\n[lab]\ndatabase = index.txt\nnew_certs_dir = .\nserial = serial\n"
        "default_md = sha256\npolicy = any\ncopy_extensions = copy\nunique_subject = no\n[any]\ncommonName = supplied\n"
    )
    subprocess.run(
        [
            *OPENSSL_CA,
            "-cert",
            str(lab.certs.ca),
            "-keyfile",
            str(lab.certs.ca_key),
            "-in",
            str(csr),
            "-out",
            str(cert),
        ],
        cwd=where,
        check=True,
        capture_output=True,
    )
    return cert, key


def test_expired_server_certificates_are_named(mtls_lab: Lab, tmp_path: Path) -> None:
    state = mtls_lab.state()
    s1 = state.servers[0]
    assert state.vault is not None
    # Consul reloads its certificate files on SIGHUP, OpenBao its listener's
    cert, key = expired_cert(mtls_lab, tmp_path / "consul", f"DNS:server.dc1.consul,IP:{s1.ip}")
    shutil.copy(cert, mtls_lab.certs.server("s1")[0])
    shutil.copy(key, mtls_lab.certs.server("s1")[1])
    cert, key = expired_cert(mtls_lab, tmp_path / "bao", f"DNS:localhost,IP:{vault_host(state.prefix)}")
    shutil.copy(cert, mtls_lab.certs.openbao[0])
    shutil.copy(key, mtls_lab.certs.openbao[1])
    for pid in (s1.pid, state.vault.pid):
        assert pid
        os.kill(pid, signal.SIGHUP)

    result = wait_until(
        lambda: cli(mtls_lab, "consul", "status"),
        lambda d: Verdict(d.returncode == 2 and "has expired" in d.stderr, d.stderr[-200:]),
        timeout=30,
        interval=0.5,
        what="Consul to serve the expired certificate",
    )
    assert f"TLS to {s1.http_addr} failed: the server's certificate has expired" in one_error_line(result.observation)
    result = wait_until(
        lambda: cli(mtls_lab, "kv", "list", "secret/"),
        lambda d: Verdict(d.returncode == 2 and "has expired" in d.stderr, d.stderr[-200:]),
        timeout=30,
        interval=0.5,
        what="OpenBao to serve the expired certificate",
    )
    assert f"TLS to {state.vault.addr} failed: the server's certificate has expired" in one_error_line(
        result.observation
    )


# -- conventions of the official CLIs -------------------------------------------------------------


def test_capath_and_tls_server_name_are_honoured(tls_lab: Lab, tmp_path: Path) -> None:
    ca_dir = tmp_path / "cas"
    ca_dir.mkdir()
    shutil.copy(tls_lab.certs.ca, ca_dir / "lab-ca.pem")  # any file name: no c_rehash, as go-rootcerts
    consul = cli(tls_lab, "consul", "status", CONSUL_CACERT="", CONSUL_CAPATH=str(ca_dir))
    assert consul.returncode == 0, consul.stderr
    named = cli(tls_lab, "consul", "status", CONSUL_TLS_SERVER_NAME="server.dc1.consul")
    assert named.returncode == 0, named.stderr
    vault = cli(tls_lab, "kv", "list", "secret/", VAULT_CACERT="", VAULT_CAPATH=str(ca_dir))
    assert "TLS" not in vault.stderr and vault.returncode in (0, 2), vault.stderr
    named = cli(tls_lab, "kv", "list", "secret/", VAULT_TLS_SERVER_NAME="openbao.lab")
    assert "TLS" not in named.stderr, named.stderr


def test_verification_off_warns_once(tls_lab: Lab) -> None:
    consul = cli(tls_lab, "consul", "status", CONSUL_CACERT="", CONSUL_HTTP_SSL_VERIFY="false")
    assert consul.returncode == 0, consul.stderr
    assert consul.stderr.count(VERIFY_OFF) == 1, consul.stderr
    assert "InsecureRequestWarning" not in consul.stderr
    vault = cli(tls_lab, "kv", "list", "secret/", VAULT_CACERT="", VAULT_SKIP_VERIFY="true")
    assert vault.stderr.count(VERIFY_OFF) == 1, vault.stderr
    assert "InsecureRequestWarning" not in vault.stderr


def test_a_token_file_open_to_others_gets_a_warning(tls_lab: Lab, tmp_path: Path) -> None:
    token = tmp_path / "token"
    shutil.copy(tls_lab.management_token_file, token)
    token.chmod(0o644)
    done = cli(tls_lab, "consul", "status", CONSUL_HTTP_TOKEN_FILE=str(token))
    assert done.returncode == 0, done.stderr
    assert f"the token file {token}" in done.stderr and "chmod 600" in done.stderr
    token.chmod(0o600)
    assert "token file" not in cli(tls_lab, "consul", "status", CONSUL_HTTP_TOKEN_FILE=str(token)).stderr


# -- least privilege, printed and proven ----------------------------------------------------------


@pytest.mark.parametrize("command", ["status", "check", "gate"])
def test_consul_policy_is_enough_and_each_rule_is_needed(tls_lab: Lab, tmp_path: Path, command: str) -> None:
    from clusterops.consul.policy import rules_for

    hcl = cli(tls_lab, "consul", "policy", command).stdout
    args = {"gate": ["--stable-window", "0s", "--timeout", "30s"], "check": ["--fail-on", "error"]}.get(command, [])
    exact = consul_token_file(tls_lab, tmp_path, hcl)
    done = cli(tls_lab, "consul", command, *args, CONSUL_HTTP_TOKEN_FILE=str(exact))
    assert done.returncode == 0, done.stdout + done.stderr
    for index, rule in enumerate(rules_for(command)):
        if rule.permission == "node:read":
            continue  # Consul filters members instead of refusing: test_consul_filtered_members_* below
        fewer = consul_token_file(tls_lab, tmp_path, drop_rule(hcl, index))
        done = cli(tls_lab, "consul", command, *args, CONSUL_HTTP_TOKEN_FILE=str(fewer))
        assert done.returncode == 2, done.stdout + done.stderr
        assert rule.permission in one_error_line(done)


@pytest.mark.parametrize("command", ["status", "check"])
def test_consul_filtered_members_name_node_read(tls_lab: Lab, tmp_path: Path, command: str) -> None:
    from clusterops.consul.policy import rules_for

    hcl = cli(tls_lab, "consul", "policy", command).stdout
    index = [r.permission for r in rules_for(command)].index("node:read")
    fewer = consul_token_file(tls_lab, tmp_path, drop_rule(hcl, index))
    done = cli(tls_lab, "consul", command, CONSUL_HTTP_TOKEN_FILE=str(fewer))
    assert done.returncode == 2, done.stdout + done.stderr
    assert "node:read" in one_error_line(done)


KV_CASES = [
    ("get", ["get", "{path}"]),
    ("put", ["put", "{path}", "k=v2"]),
    ("list", ["list", "{folder}"]),
    ("delete", ["delete", "{path}"]),
    ("metadata get", ["metadata", "get", "{path}"]),
    ("patch", ["patch", "{path}", "k=v3"]),
    ("delete-versions", ["delete", "{path}", "--versions", "1"]),
    ("undelete", ["undelete", "{path}", "--versions", "1"]),
    ("destroy", ["destroy", "{path}", "--versions", "1"]),
    ("subkeys", ["subkeys", "{path}"]),
    ("metadata put", ["metadata", "put", "{path}", "--max-versions", "5"]),
    ("metadata patch", ["metadata", "patch", "{path}", "--max-versions", "4"]),
    ("metadata delete", ["metadata", "delete", "{path}"]),
    ("history", ["history", "{path}"]),
    ("rollback", ["rollback", "{path}", "--version", "1"]),
]


@pytest.mark.parametrize(("command", "argv"), KV_CASES, ids=[c for c, _ in KV_CASES])
def test_kv_policy_is_enough_and_each_stanza_is_needed(tls_lab: Lab, command: str, argv: list[str]) -> None:
    folder = f"secret/pol-{uuid.uuid4().hex[:8]}"
    path = f"{folder}/db"
    for value in ("v1", "v2"):  # two versions, for rollback
        bao(tls_lab).secrets.kv.v2.create_or_update_secret(path=path.removeprefix("secret/"), secret={"k": value})
    args = [a.format(path=path, folder=folder) for a in argv]
    target = folder + "/" if command == "list" else path
    hcl = cli(tls_lab, "kv", "policy", *command.split(), target).stdout
    exact = vault_token_with(tls_lab, hcl)
    done = cli(tls_lab, "kv", *args, VAULT_TOKEN=exact)
    assert done.returncode == 0, done.stdout + done.stderr
    from clusterops.kv.policy import stanzas

    # a stanza elsewhere in the mount stays, so that only the removed rule is missing
    elsewhere = 'path "secret/data/unrelated" {\n  capabilities = ["read"]\n}'
    for index, stanza in enumerate(stanzas(command, [target])):
        token = vault_token_with(tls_lab, drop_rule(hcl, index) + "\n" + elsewhere)
        done = cli(tls_lab, "kv", *args, VAULT_TOKEN=token)
        assert done.returncode == 2, done.stdout + done.stderr
        line = one_error_line(done)
        assert "permission denied" in line and f"on {stanza.path}" in line, line
        if command != "patch":  # without `patch`, auto falls back to read-modify-write: the read is refused
            assert any(cap in line.split("needs", 1)[1] for cap in stanza.capabilities), line


def test_upgrade_on_the_tls_acl_lab_with_exactly_its_policy(tls_lab: Lab, tmp_path: Path) -> None:
    """The rolling upgrade (lab driver) over HTTPS with client certificates, with a token holding exactly
    `consul policy upgrade`; minus the acl rule the snapshot is refused, minus operator the pre-flight,
    each exit 2 naming the permission, before any server is touched."""
    import yaml

    from clusterops.consul.policy import rules_for

    hcl = cli(tls_lab, "consul", "policy", "upgrade").stdout
    inventory = yaml.safe_load(cli(tls_lab, "lab", "inventory", "--dir", str(tls_lab.root)).stdout)

    def upgrade_with(rules: str, name: str) -> subprocess.CompletedProcess[str]:
        inventory["consul"]["token_file"] = str(consul_token_file(tls_lab, tmp_path, rules))
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump(inventory))
        state_dir = str(tmp_path / f"state-{name}")
        return cli(
            tls_lab, "consul", "upgrade", "-i", str(path), "--to", CONSUL_B, "--apply", CLUSTEROPS_STATE_DIR=state_dir
        )

    for index, rule in enumerate(rules_for("upgrade")):
        if rule.permission == "node:read":
            continue  # filtered, not refused: see test_consul_filtered_members_name_node_read
        done = upgrade_with(drop_rule(hcl, index), f"minus-{index}")
        assert done.returncode == 2, done.stdout + done.stderr
        assert rule.permission.split(":")[0] in one_error_line(done)
        assert {s.version for s in tls_lab.state().servers} == {CONSUL_A}
    done = upgrade_with(hcl, "exact")
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr
    assert {s.version for s in tls_lab.state().servers} == {CONSUL_B}
    status = cli(tls_lab, "consul", "status", "-f", "json")
    assert json.loads(status.stdout)["summary"]["healthy"] is True


def test_remove_stale_peers_policy_is_enough_and_operator_is_needed(tls_lab: Lab, tmp_path: Path) -> None:
    """Last in the module: it removes s3 from the lab's cluster."""
    from clusterops.consul.policy import rules_for

    hcl = cli(tls_lab, "consul", "policy", "remove-stale-peers").stdout
    tls_lab.stop("s3", kill=True)
    wait_until(
        lambda: cli(tls_lab, "consul", "remove-stale-peers"),
        lambda d: Verdict("s3" in d.stdout and "will run" in d.stdout, d.stdout[-300:]),
        timeout=60,
        interval=1,
        what="s3 to be a stale peer",
    )
    operator = [r.permission for r in rules_for("remove-stale-peers")].index("operator:write")
    fewer = consul_token_file(tls_lab, tmp_path, drop_rule(hcl, operator))
    refused = cli(tls_lab, "consul", "remove-stale-peers", "--apply", "--yes", CONSUL_HTTP_TOKEN_FILE=str(fewer))
    assert refused.returncode == 2
    assert "operator:" in one_error_line(refused)
    exact = consul_token_file(tls_lab, tmp_path, hcl)
    done = cli(tls_lab, "consul", "remove-stale-peers", "--apply", "--yes", CONSUL_HTTP_TOKEN_FILE=str(exact))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "removed from raft" in done.stdout
