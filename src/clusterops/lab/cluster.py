"""A real Consul cluster (and optionally an OpenBao dev server) on one machine.

Server i of a lab listens on `<prefix>.i` with Consul's default ports (the default prefix is
127.0.0, so s1 is 127.0.0.1:8500). Linux routes all of 127.0.0.0/8 to `lo`, so no port juggling is
needed; tests run several labs side by side on different prefixes (127.0.1, 127.0.2, ...).

The lab keeps its state in `<root>/lab.json` so that separate `clusterops lab ...` invocations, and
the test fixtures, manage the same processes. Layout:

    <root>/lab.json                 servers, versions, pids, vault address
    <root>/<node>/config.hcl        the server's config; <root>/<node>/data, <root>/<node>/consul.log
    <root>/consul-management.token  with --acl (mode 0600)
    <root>/vault/bao.log, <root>/vault.token (mode 0600)
    <root>/tls/                     with --tls: the lab CA and certificates (see `clusterops.lab.tls`)

With `tls`, every server serves HTTPS on 8501 and requires a client certificate there, plain HTTP
is off (`ports.http = -1`), and server RPC verifies both ends and the server hostname; OpenBao gets a
TLS listener (requiring a client certificate with `vault_client_certs`). Its dev-mode listener
stays on a second, plain loopback port the lab does not advertise (dev mode cannot drop it).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import time
import uuid
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from clusterops.atomicfile import write_private
from clusterops.consul.state import failure_tolerance
from clusterops.errors import ClusterOpsError, GateTimeout, LabError, UsageError
from clusterops.lab import binaries, processes
from clusterops.lab.tls import TLS_DIR, LabCerts, make_ca, make_consul_cert, make_openbao_cert
from clusterops.wait import Verdict, wait_until

if TYPE_CHECKING:
    from clusterops.consul.client import ConsulClient
    from clusterops.settings import ConsulSettings, VaultSettings

STATE_FILE = "lab.json"
# server RPC, serf LAN, serf WAN, HTTP, gRPC and gRPC TLS (1.14) on each server's address
CONSUL_PORTS = (8300, 8301, 8302, 8500, 8501, 8502, 8503)
# OpenBao of `lab up --vault` listens on <prefix>.100 (servers are <prefix>.1-9), so labs on other
# prefixes never share 127.0.0.1:8200
VAULT_HOST = 100


def vault_host(prefix: str) -> str:
    """The address of a lab's OpenBao: on the lab's own prefix, like everything the lab starts."""
    return f"{prefix}.{VAULT_HOST}"


def default_root() -> Path:
    """CLUSTEROPS_LAB_DIR, else `lab/` in the state directory (`settings.state_dir`)."""
    from clusterops.settings import state_dir

    env = os.environ.get("CLUSTEROPS_LAB_DIR")
    if env:
        return Path(env).expanduser()
    return state_dir() / "lab"


@dataclass(frozen=True)
class LabServer:
    name: str
    ip: str
    version: str
    pid: int | None = None
    tls: bool = False

    @property
    def http_addr(self) -> str:
        """The server's HTTP API: https on 8501 in a TLS lab, else http on 8500."""
        return f"https://{self.ip}:8501" if self.tls else f"http://{self.ip}:8500"


@dataclass(frozen=True)
class LabVault:
    addr: str
    version: str
    pid: int | None = None
    dev_addr: str | None = None  # in a TLS lab: dev mode's own plain-HTTP listener, not advertised


@dataclass(frozen=True)
class LabState:
    root: str
    prefix: str
    datacenter: str
    servers: tuple[LabServer, ...]
    acl: bool = False
    vault: LabVault | None = None
    extra_config: str = ""
    bootstrap_expect: int = 0
    created: float = field(default_factory=time.time)
    tls: bool = False
    vault_client_certs: bool = False

    def server(self, name: str) -> LabServer:
        for s in self.servers:
            if s.name == name:
                return s
        known = ", ".join(s.name for s in self.servers)
        raise UsageError(f"the lab has no server named {name!r} (it has {known})")

    def with_server(self, server: LabServer) -> LabState:
        servers = tuple(server if s.name == server.name else s for s in self.servers)
        if server.name not in {s.name for s in self.servers}:
            servers = (*self.servers, server)
        return replace(self, servers=servers)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LabState:
        vault = data.get("vault")
        return cls(
            root=data["root"],
            prefix=data["prefix"],
            datacenter=data["datacenter"],
            servers=tuple(LabServer(**s) for s in data["servers"]),
            acl=bool(data.get("acl", False)),
            vault=LabVault(**vault) if vault else None,
            extra_config=data.get("extra_config", ""),
            bootstrap_expect=int(data.get("bootstrap_expect", 0)),
            created=float(data.get("created", 0.0)),
            tls=bool(data.get("tls", False)),
            vault_client_certs=bool(data.get("vault_client_certs", False)),
        )


class Lab:
    """One lab directory and the processes it started."""

    def __init__(self, root: Path | str | None = None) -> None:
        self.root = Path(root).expanduser().resolve() if root else default_root().resolve()

    # -- state --------------------------------------------------------------------------------

    @property
    def state_path(self) -> Path:
        return self.root / STATE_FILE

    def exists(self) -> bool:
        return self.state_path.is_file()

    def state(self) -> LabState:
        try:
            return LabState.from_json(json.loads(self.state_path.read_text()))
        except FileNotFoundError:
            raise LabError(f"no lab at {self.root}", hint="start one with `clusterops lab up`") from None
        except (ValueError, KeyError, TypeError) as err:
            raise LabError(
                f"the lab state file {self.state_path} is damaged ({err}); run `clusterops lab down`"
            ) from err

    def _save(self, state: LabState) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        write_private(self.state_path, json.dumps(asdict(state), indent=2))

    @property
    def management_token_file(self) -> Path:
        return self.root / "consul-management.token"

    @property
    def vault_token_file(self) -> Path:
        return self.root / "vault.token"

    def management_token(self) -> str | None:
        try:
            return self.management_token_file.read_text().strip()
        except FileNotFoundError:
            return None

    def vault_token(self) -> str | None:
        try:
            return self.vault_token_file.read_text().strip()
        except FileNotFoundError:
            return None

    @property
    def certs(self) -> LabCerts:
        """The lab's CA and certificates (files exist only in a TLS lab)."""
        return LabCerts(self.root / TLS_DIR)

    def consul_settings(self, server: LabServer, *, timeout: float = 2.0) -> ConsulSettings:
        """How to reach one server's HTTP API: its address, the management token, and in a TLS lab
        the lab CA and the client certificate."""
        from clusterops.settings import ConsulSettings

        settings = ConsulSettings(address=server.http_addr, token=self.management_token(), timeout=timeout)
        if not server.tls:
            return settings
        cert, key = self.certs.client
        return replace(settings, ca_cert=str(self.certs.ca), client_cert=str(cert), client_key=str(key))

    def vault_settings(self) -> VaultSettings:
        """How to reach the lab's OpenBao: its address and root token (and the lab CA and client
        certificate in a TLS lab)."""
        from clusterops.settings import VaultSettings

        state = self.state()
        if state.vault is None:
            raise LabError(f"the lab in {self.root} has no OpenBao", hint="start one with `clusterops lab up --vault`")
        settings = VaultSettings(address=state.vault.addr, token=self.vault_token())
        if not state.vault.addr.startswith("https://"):
            return settings
        cert, key = self.certs.client
        return replace(settings, ca_cert=str(self.certs.ca), client_cert=str(cert), client_key=str(key))

    def node_dir(self, name: str) -> Path:
        return self.root / name

    def log_path(self, name: str) -> Path:
        return self.node_dir(name) / "consul.log"

    # -- up / down ----------------------------------------------------------------------------

    def up(
        self,
        *,
        servers: int = 3,
        consul_version: str = binaries.CONSUL_FROM,
        vault: bool = False,
        vault_version: str = binaries.DEFAULT_OPENBAO,
        acl: bool = False,
        prefix: str = "127.0.0",
        datacenter: str = "dc1",
        extra_config: str = "",
        timeout: float = 60.0,
        tls: bool = False,
        vault_client_certs: bool = False,
    ) -> LabState:
        """Start N servers (and OpenBao) and wait until a leader is elected, all N are voters and
        autopilot is healthy. On any failure everything started is stopped again.

        `tls`: a lab CA, HTTPS only (client certificates required), verified server RPC; OpenBao
        on a TLS listener, requiring a client certificate too with `vault_client_certs`."""
        if vault_client_certs and not (tls and vault):
            raise UsageError("--vault-client-certs needs --tls and --vault")
        if servers < 1 or servers > 9:
            raise UsageError(f"--servers must be between 1 and 9, not {servers}")
        if self.exists() and self.running_pids():
            raise LabError(f"a lab is already running in {self.root}", hint="run `clusterops lab down` first")
        self.down(quiet=True)
        consul_bin = binaries.consul_binary(consul_version)
        bao_bin = binaries.openbao_binary(vault_version) if vault else None
        busy = [
            sock
            for sock in processes.listening_sockets([f"{prefix}.{i}" for i in range(1, servers + 1)])
            if int(sock.rsplit(":", 1)[1]) in CONSUL_PORTS
        ]
        if busy:
            raise LabError(f"addresses the lab needs are already in use: {', '.join(sorted(busy))}")

        self.root.mkdir(parents=True, exist_ok=True)
        if acl:
            write_private(self.management_token_file, str(uuid.uuid4()) + "\n")
        state = LabState(
            root=str(self.root),
            prefix=prefix,
            datacenter=datacenter,
            servers=tuple(LabServer(f"s{i}", f"{prefix}.{i}", consul_version, tls=tls) for i in range(1, servers + 1)),
            acl=acl,
            extra_config=extra_config,
            bootstrap_expect=servers,
            tls=tls,
            vault_client_certs=vault_client_certs,
        )
        self._save(state)
        try:
            if tls:
                make_ca(consul_bin, self.certs)
                make_consul_cert(consul_bin, self.certs, name="client", ip="", datacenter=datacenter)
            for server in state.servers:
                state = state.with_server(self._start_server(state, server, consul_bin))
                self._save(state)
            if bao_bin is not None:
                state = replace(state, vault=self._start_vault(bao_bin, vault_version, state))
                self._save(state)
            self.wait_ready(state, timeout=timeout)
        except BaseException:
            self.down(quiet=True)
            raise
        return state

    def down(self, *, quiet: bool = False) -> list[str]:
        """Stop every process the lab started; leave no process and no listening socket."""
        stopped: list[str] = []
        state: LabState | None = None
        if self.exists():
            try:
                state = self.state()
            except LabError:
                state = None
        if state is not None:
            for server in state.servers:
                if processes.is_running(server.pid):
                    processes.stop(server.pid)
                    stopped.append(server.name)
            if state.vault and processes.is_running(state.vault.pid):
                processes.stop(state.vault.pid)
                stopped.append("vault")
        if self.root.exists():
            for pid in processes.processes_under(self.root):
                processes.stop(pid)
                stopped.append(f"pid {pid}")
        if state is not None:
            ips = [s.ip for s in state.servers]
            deadline = time.monotonic() + 10
            while processes.listening_sockets(ips) and time.monotonic() < deadline:
                time.sleep(0.1)
        if self.root.exists():
            shutil.rmtree(self.root, ignore_errors=True)
        processes.reap_exited()
        return stopped

    def running_pids(self) -> list[int]:
        if not self.root.exists():
            return []
        return processes.processes_under(self.root)

    # -- one server ---------------------------------------------------------------------------

    def _config(self, state: LabState, server: LabServer) -> str:
        peers = ", ".join(f'"{s.ip}"' for s in state.servers if s.name != server.name) or f'"{server.ip}"'
        acl = ""
        if state.acl:
            token = self.management_token()
            acl = f"""
acl {{
  enabled                  = true
  default_policy           = "deny"
  enable_token_persistence = true
  tokens {{
    initial_management = "{token}"
    agent              = "{token}"
  }}
}}
"""
        tls_ports = "\n  http  = -1\n  https = 8501" if server.tls else ""
        return f"""# written by clusterops lab; server {server.name} of a {len(state.servers)}-server lab
{self._tls_config(server) if server.tls else ""}
datacenter            = "{state.datacenter}"
node_name             = "{server.name}"
server                = true
bootstrap_expect      = {state.bootstrap_expect or len(state.servers)}
bind_addr             = "{server.ip}"
client_addr           = "{server.ip}"
data_dir              = "{self.node_dir(server.name) / "data"}"
retry_join            = [{peers}]
retry_interval        = "1s"
disable_update_check  = true
log_level             = "INFO"
ports {{
  dns = -1{tls_ports}
}}
performance {{
  raft_multiplier = 1
}}
{acl}
{state.extra_config}
"""

    def _tls_config(self, server: LabServer) -> str:
        """Consul >= 1.12's `tls` stanza: HTTPS with client certificates required, server RPC
        verified both ways with the server hostname checked, plain HTTP off."""
        cert, key = self.certs.server(server.name)
        return f"""tls {{
  defaults {{
    ca_file         = "{self.certs.ca}"
    cert_file       = "{cert}"
    key_file        = "{key}"
    verify_outgoing = true
  }}
  https {{
    verify_incoming = true
  }}
  internal_rpc {{
    verify_incoming        = true
    verify_server_hostname = true
  }}
}}
"""

    def _start_server(self, state: LabState, server: LabServer, consul_bin: Path) -> LabServer:
        node_dir = self.node_dir(server.name)
        if server.tls and not self.certs.server(server.name)[0].is_file():
            make_consul_cert(consul_bin, self.certs, name=server.name, ip=server.ip, datacenter=state.datacenter)
        (node_dir / "data").mkdir(parents=True, exist_ok=True)
        config = node_dir / "config.hcl"
        write_private(config, self._config(state, server))
        pid = processes.spawn(
            [str(consul_bin), "agent", f"-config-file={config}"],
            cwd=node_dir,
            log=self.log_path(server.name),
        )
        return replace(server, pid=pid)

    def stop(self, name: str, *, kill: bool = False) -> LabServer:
        """Stop one server: SIGTERM (graceful shutdown; a server does not leave Raft) or SIGKILL."""
        state = self.state()
        server = state.server(name)
        processes.stop(server.pid, kill=kill)
        server = replace(server, pid=None)
        self._save(state.with_server(server))
        return server

    def start(
        self, name: str, *, consul_version: str | None = None, binary: str | None = None, wait: bool = True
    ) -> LabServer:
        """Start one stopped server, optionally on another Consul version, with its data kept."""
        state = self.state()
        server = state.server(name)
        if processes.is_running(server.pid):
            raise LabError(f"{name} is already running (pid {server.pid})", hint=f"`clusterops lab stop {name}` first")
        version = consul_version or server.version
        consul_bin = binaries.consul_binary(version, explicit=binary)
        server = self._start_server(state, replace(server, version=version), consul_bin)
        self._save(state.with_server(server))
        if wait:
            self.wait_agent(server, timeout=30)
        return server

    def wipe(self, name: str) -> None:
        """Delete a stopped server's data dir, as if its machine had been replaced."""
        state = self.state()
        server = state.server(name)
        if processes.is_running(server.pid):
            raise LabError(f"{name} is running; stop it before wiping its data")
        shutil.rmtree(self.node_dir(name) / "data", ignore_errors=True)

    def add_server(self, name: str, ip: str, *, consul_version: str | None = None, wait: bool = True) -> LabServer:
        """Start a new server (a replacement machine) that joins the existing lab."""
        state = self.state()
        if name in {s.name for s in state.servers}:
            raise UsageError(f"the lab already has a server named {name!r}")
        server = LabServer(name, ip, consul_version or state.servers[0].version, tls=state.tls)
        state = state.with_server(server)
        self._save(state)
        server = self._start_server(state, server, binaries.consul_binary(server.version))
        self._save(state.with_server(server))
        if wait:
            self.wait_agent(server, timeout=30)
        return server

    # -- readiness ----------------------------------------------------------------------------

    def client(self, server: LabServer, *, attempts: int = 1) -> ConsulClient:
        from clusterops.consul.client import ConsulClient

        return ConsulClient(self.consul_settings(server), attempts=attempts)

    def wait_agent(self, server: LabServer, *, timeout: float) -> None:
        """Wait until the agent answers HTTP and knows a leader."""

        def observe() -> str:
            if not processes.is_running(server.pid):
                raise LabError(f"{server.name} exited during start-up; last log lines:\n{self.log_tail(server.name)}")
            try:
                with self.client(server) as c:
                    return str(c.leader())
            except ClusterOpsError as err:
                return f"error: {err}"

        try:
            wait_until(
                observe,
                lambda leader: Verdict(bool(leader) and not leader.startswith("error"), f"leader: {leader or 'none'}"),
                timeout=timeout,
                interval=0.2,
                what=f"{server.name} to answer with a leader",
            )
        except GateTimeout as err:
            raise LabError(f"{err}; last log lines:\n{self.log_tail(server.name)}") from None

    def wait_ready(self, state: LabState | None = None, *, timeout: float = 60.0) -> None:
        """Leader elected, every lab server a voter, autopilot healthy with the failure tolerance of
        a full cluster of that size; raises LabError otherwise."""
        state = state or self.state()
        names = {s.name for s in state.servers}

        def observe() -> str:
            for s in state.servers:
                if not processes.is_running(s.pid):
                    raise LabError(f"{s.name} exited during start-up; last log lines:\n{self.log_tail(s.name)}")
            try:
                with self.client(state.servers[0]) as c:
                    if not c.leader():
                        return "no leader yet"
                    raft = c.raft_configuration()
                    voters = {p["Node"] for p in raft.get("Servers", []) if p.get("Voter")}
                    if voters != names:
                        return f"voters are {sorted(voters)}, want {sorted(names)}"
                    health = c.autopilot_health()
                    if not health.get("Healthy"):
                        return "autopilot not healthy yet"
                    want = failure_tolerance(len(names))
                    if int(health.get("FailureTolerance", 0)) < want:
                        return f"autopilot failure tolerance {health.get('FailureTolerance')}, want {want}"
            except ClusterOpsError as err:
                return f"not answering: {err}"
            return ""

        try:
            wait_until(
                observe,
                lambda reason: Verdict(not reason, reason),
                timeout=timeout,
                interval=0.25,
                what="the lab to have a leader and all servers as healthy voters",
            )
        except ClusterOpsError as err:
            raise LabError(str(err), hint=f"server logs are in {self.root}/<node>/consul.log") from err

    def log_tail(self, name: str, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path(name).read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    # -- vault --------------------------------------------------------------------------------

    def _start_vault(self, bao_bin: Path, version: str, state: LabState) -> LabVault:
        token = "lab-" + secrets.token_hex(16)
        write_private(self.vault_token_file, token + "\n")
        host = vault_host(state.prefix)
        port = _free_port(host, preferred=8200)
        vault_dir = self.root / "vault"
        vault_dir.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("BAO_", "VAULT_"))}
        env["BAO_DEV_ROOT_TOKEN_ID"] = token  # from the environment, never argv
        argv = [str(bao_bin), "server", "-dev", f"-dev-listen-address={host}:{port}"]
        addr = f"http://{host}:{port}"
        plain_port = port
        if state.tls:
            # dev mode keeps its plain listener (moved to another port); the lab's address is the TLS one
            make_openbao_cert(self.certs, host=host)
            tls_port = port
            plain_port = _free_port(host, preferred=0)
            config = vault_dir / "listener.hcl"
            write_private(config, self._vault_listener(host, tls_port, client_certs=state.vault_client_certs))
            argv = [str(bao_bin), "server", "-dev", f"-dev-listen-address={host}:{plain_port}", f"-config={config}"]
            addr = f"https://{host}:{tls_port}"
        log = vault_dir / "bao.log"
        log.touch(mode=0o600)  # dev mode prints the root token in its log: owner only
        log.chmod(0o600)
        pid = processes.spawn(argv, cwd=vault_dir, log=log, env=env)
        dev_addr = f"http://{host}:{plain_port}" if state.tls else None
        vault = LabVault(addr=addr, version=version, pid=pid, dev_addr=dev_addr)
        self._wait_vault(vault, token)
        return vault

    def _vault_listener(self, host: str, port: int, *, client_certs: bool) -> str:
        cert, key = self.certs.openbao
        require = (
            f'  tls_client_ca_file                 = "{self.certs.ca}"\n  tls_require_and_verify_client_cert = true\n'
            if client_certs
            else ""
        )
        return f"""# written by clusterops lab: OpenBao's TLS listener
listener "tcp" {{
  address       = "{host}:{port}"
  tls_cert_file = "{cert}"
  tls_key_file  = "{key}"
{require}}}
"""

    def _wait_vault(self, vault: LabVault, token: str) -> None:
        import hvac

        verify: bool | str = str(self.certs.ca) if vault.addr.startswith("https://") else True
        cert = tuple(str(p) for p in self.certs.client) if vault.addr.startswith("https://") else None

        def observe() -> str:
            if not processes.is_running(vault.pid):
                log = (self.root / "vault" / "bao.log").read_text(errors="replace").splitlines()[-15:]
                raise LabError("OpenBao exited during start-up; last log lines:\n" + "\n".join(log))
            try:
                client = hvac.Client(url=vault.addr, token=token, timeout=2, verify=verify, cert=cert)
                status = client.sys.read_health_status(method="GET")
                ok = isinstance(status, dict) and status.get("initialized") and not status.get("sealed")
                return "" if ok else "not initialized or sealed"
            except Exception as err:  # noqa: BLE001 - any failure here just means "not up yet"
                return f"not answering ({type(err).__name__})"

        wait_until(observe, lambda r: Verdict(not r, r), timeout=30, interval=0.2, what="OpenBao to be unsealed")


def _free_port(host: str, *, preferred: int) -> int:
    for port in dict.fromkeys((preferred, 0)):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((host, port))
            except OSError:
                continue
            return int(sock.getsockname()[1])
    raise LabError(f"no free port on {host}")
