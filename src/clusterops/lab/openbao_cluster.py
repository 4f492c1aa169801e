"""A real OpenBao cluster on integrated storage (raft) in the lab dir, beside (or without) the Consul lab.

Node i listens on `<prefix>.i:8200` (API) and `<prefix>.i:8201` (cluster), joins through
`retry_join` to every other node, and is initialised by the lab: Shamir keys (3 shares, threshold 2)
and the root token land in files of mode 0600 and never in argv or output. Ready means an active
node, every node unsealed and a raft voter, and autopilot healthy with the failure tolerance of a
full cluster of that size.

Layout, inside the lab root (so `clusterops lab down` finds and stops these processes too):

    <root>/openbao-raft.json              nodes, versions, pids
    <root>/openbao/unseal-keys.json       {"keys_base64": [...], "threshold": 2}  (0600)
    <root>/openbao/root.token             (0600)
    <root>/openbao/<node>/config.hcl, data/, bao.log

With `seal="transit"` the nodes auto-unseal through the transit engine of a second OpenBao server
(a dev server on `<prefix>.20:8200`, its token in `<root>/openbao/transit.token`, handed to the
nodes in their environment as VAULT_TOKEN, never in argv or a config file); the cluster is then
initialised with recovery keys instead of unseal keys.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from clusterops.atomicfile import write_private
from clusterops.errors import ClusterOpsError, GateTimeout, LabError, UsageError
from clusterops.lab import binaries, processes
from clusterops.lab.cluster import default_root
from clusterops.settings import VaultSettings
from clusterops.vault.client import RaftClient
from clusterops.vault.unseal import read_unseal_keys, unseal
from clusterops.wait import Verdict, wait_until

STATE_FILE = "openbao-raft.json"
API_PORT, CLUSTER_PORT = 8200, 8201
SHARES, THRESHOLD = 3, 2
SEALS = ("shamir", "transit")
TRANSIT_HOST_OCTET = 20
TRANSIT_KEY = "autounseal"


@dataclass(frozen=True)
class BaoNode:
    name: str
    ip: str
    version: str
    pid: int | None = None

    @property
    def api_addr(self) -> str:
        return f"http://{self.ip}:{API_PORT}"

    @property
    def cluster_addr(self) -> str:
        return f"{self.ip}:{CLUSTER_PORT}"


@dataclass(frozen=True)
class BaoClusterState:
    root: str
    prefix: str
    nodes: tuple[BaoNode, ...]
    seal: str = "shamir"
    transit_addr: str = ""
    transit_pid: int | None = None
    created: float = field(default_factory=time.time)

    def node(self, name: str) -> BaoNode:
        for n in self.nodes:
            if n.name == name:
                return n
        known = ", ".join(n.name for n in self.nodes)
        raise UsageError(f"the OpenBao lab has no node named {name!r} (it has {known})")

    def with_node(self, node: BaoNode) -> BaoClusterState:
        nodes = tuple(node if n.name == node.name else n for n in self.nodes)
        if node.name not in {n.name for n in self.nodes}:
            nodes = (*self.nodes, node)
        return replace(self, nodes=nodes)

    def without(self, name: str) -> BaoClusterState:
        return replace(self, nodes=tuple(n for n in self.nodes if n.name != name))

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BaoClusterState:
        return cls(
            root=data["root"],
            prefix=data["prefix"],
            nodes=tuple(BaoNode(**n) for n in data["nodes"]),
            seal=str(data.get("seal", "shamir")),
            transit_addr=str(data.get("transit_addr", "")),
            transit_pid=data.get("transit_pid"),
            created=float(data.get("created", 0.0)),
        )


def _bao_env() -> dict[str, str]:
    """The server's environment without any VAULT_*/BAO_* of the caller (a token, an address)."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("BAO_", "VAULT_"))}


class OpenBaoCluster:
    """The OpenBao raft cluster of one lab dir."""

    def __init__(self, root: Path | str | None = None) -> None:
        self.root = Path(root).expanduser().resolve() if root else default_root().resolve()

    # -- files --------------------------------------------------------------------------------

    @property
    def state_path(self) -> Path:
        return self.root / STATE_FILE

    @property
    def base(self) -> Path:
        return self.root / "openbao"

    @property
    def key_file(self) -> Path:
        return self.base / "unseal-keys.json"

    @property
    def token_file(self) -> Path:
        return self.base / "root.token"

    @property
    def transit_token_file(self) -> Path:
        return self.base / "transit.token"

    def node_dir(self, name: str) -> Path:
        return self.base / name

    def log_path(self, name: str) -> Path:
        return self.node_dir(name) / "bao.log"

    def exists(self) -> bool:
        return self.state_path.is_file()

    def state(self) -> BaoClusterState:
        try:
            return BaoClusterState.from_json(json.loads(self.state_path.read_text()))
        except FileNotFoundError:
            raise LabError(
                f"no OpenBao raft cluster in {self.root}", hint="start one with `clusterops lab up --vault-servers 3`"
            ) from None
        except (ValueError, KeyError, TypeError) as err:
            raise LabError(f"the state file {self.state_path} is damaged ({err}); run `clusterops lab down`") from err

    def _save(self, state: BaoClusterState) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        write_private(self.state_path, json.dumps(asdict(state), indent=2))

    def root_token(self) -> str:
        try:
            return self.token_file.read_text().strip()
        except FileNotFoundError:
            raise LabError(f"the lab's root token file {self.token_file} is missing") from None

    def unseal_keys(self, key_file: str | os.PathLike[str] | None = None) -> list[str]:
        return read_unseal_keys(key_file or self.key_file)

    def client(self, node: BaoNode | None = None, *, token: bool = True) -> RaftClient:
        state = self.state()
        address = (node or state.nodes[0]).api_addr
        settings = VaultSettings(address=address, token=self.root_token() if token else None, timeout=3.0)
        return RaftClient(settings, timeout=3.0)

    # -- up / down ----------------------------------------------------------------------------

    def up(
        self,
        *,
        nodes: int = 3,
        version: str = binaries.DEFAULT_OPENBAO,
        prefix: str = "127.0.0",
        seal: str = "shamir",
        timeout: float = 90.0,
    ) -> BaoClusterState:
        """Start N nodes, initialise the cluster, unseal every node, wait until ready.
        On any failure everything this started is stopped again."""
        if nodes < 1 or nodes > 9:
            raise UsageError(f"--vault-servers must be between 1 and 9, not {nodes}")
        if seal not in SEALS:
            raise UsageError(f"--seal must be one of {', '.join(SEALS)}, not {seal!r}")
        if self.exists() and any(processes.is_running(n.pid) for n in self.state().nodes):
            raise LabError(f"an OpenBao raft cluster is already running in {self.root}", hint="`clusterops lab down`")
        bao = binaries.openbao_binary(version)
        ips = [f"{prefix}.{i}" for i in range(1, nodes + 1)]
        if seal == "transit":
            ips.append(f"{prefix}.{TRANSIT_HOST_OCTET}")
        busy = [s for s in processes.listening_sockets(ips) if int(s.rsplit(":", 1)[1]) in (API_PORT, CLUSTER_PORT)]
        if busy:
            raise LabError(f"addresses the OpenBao lab needs are already in use: {', '.join(sorted(busy))}")
        self.down()
        state = BaoClusterState(
            root=str(self.root),
            prefix=prefix,
            nodes=tuple(BaoNode(f"v{i}", f"{prefix}.{i}", version) for i in range(1, nodes + 1)),
            seal=seal,
        )
        self._save(state)
        try:
            if seal == "transit":
                state = self._start_transit(state, bao)
                self._save(state)
            for node in state.nodes:
                state = state.with_node(self._spawn(state, node, bao))
                self._save(state)
            self._initialise(state, timeout=timeout)
            self.wait_ready(state, timeout=timeout)
        except BaseException:
            self.down()
            raise
        return state

    def down(self) -> list[str]:
        """Stop every OpenBao node of this lab and remove its files (the Consul lab is left alone)."""
        stopped: list[str] = []
        if self.exists():
            try:
                state = self.state()
                for n in state.nodes:
                    if processes.is_running(n.pid):
                        processes.stop(n.pid)
                        stopped.append(n.name)
                if processes.is_running(state.transit_pid):
                    processes.stop(state.transit_pid)
                    stopped.append("transit")
            except LabError:
                pass
        if self.base.exists():
            for pid in processes.processes_under(self.base):
                processes.stop(pid)
                stopped.append(f"pid {pid}")
            shutil.rmtree(self.base, ignore_errors=True)
        self.state_path.unlink(missing_ok=True)
        processes.reap_exited()
        return stopped

    # -- one node -----------------------------------------------------------------------------

    def _config(self, state: BaoClusterState, node: BaoNode) -> str:
        joins = "\n".join(
            f'  retry_join {{\n    leader_api_addr = "{n.api_addr}"\n  }}' for n in state.nodes if n.name != node.name
        )
        return f"""# written by clusterops lab; OpenBao raft node {node.name}
disable_mlock = true
ui            = false
log_level     = "info"
api_addr      = "{node.api_addr}"
cluster_addr  = "https://{node.cluster_addr}"

listener "tcp" {{
  address         = "{node.ip}:{API_PORT}"
  cluster_address = "{node.cluster_addr}"
  tls_disable     = true
}}

storage "raft" {{
  path                   = "{self.node_dir(node.name) / "data"}"
  node_id                = "{node.name}"
  performance_multiplier = 1
{joins}
}}
{self._seal_stanza(state)}"""

    @staticmethod
    def _seal_stanza(state: BaoClusterState) -> str:
        if state.seal != "transit":
            return ""
        return f"""
seal "transit" {{
  address    = "{state.transit_addr}"
  key_name   = "{TRANSIT_KEY}"
  mount_path = "transit/"
}}
"""

    def _node_env(self, state: BaoClusterState) -> dict[str, str]:
        env = _bao_env()
        if state.seal == "transit":
            env["VAULT_TOKEN"] = self.transit_token_file.read_text().strip()  # the seal's token: env, not argv
        return env

    def _start_transit(self, state: BaoClusterState, bao: Path) -> BaoClusterState:
        """A second OpenBao server (dev mode) whose transit engine seals and unseals the cluster."""
        import secrets

        token = "transit-" + secrets.token_hex(16)
        write_private(self.transit_token_file, token + "\n")
        ip = f"{state.prefix}.{TRANSIT_HOST_OCTET}"
        transit_dir = self.base / "transit"
        transit_dir.mkdir(parents=True, exist_ok=True)
        env = _bao_env()
        env["BAO_DEV_ROOT_TOKEN_ID"] = token
        pid = processes.spawn(
            [str(bao), "server", "-dev", f"-dev-listen-address={ip}:{API_PORT}"],
            cwd=transit_dir,
            log=transit_dir / "bao.log",
            env=env,
        )
        addr = f"http://{ip}:{API_PORT}"
        transit = BaoNode("transit", ip, state.nodes[0].version, pid)

        def observe() -> str:
            if not processes.is_running(pid):
                raise LabError("the transit server exited; see " + str(transit_dir / "bao.log"))
            try:
                with RaftClient(VaultSettings(address=addr, token=token, timeout=2.0)) as c:
                    return "" if c.health(addr).code == 200 else "not active yet"
            except ClusterOpsError as err:
                return str(err)

        self._wait(observe, timeout=30, what="the transit server")
        with RaftClient(VaultSettings(address=addr, token=token, timeout=10.0)) as c:
            c._request("POST", "sys/mounts/transit", node=transit.api_addr, json_body={"type": "transit"})
            c._request("POST", f"transit/keys/{TRANSIT_KEY}", node=transit.api_addr, json_body={})
        return replace(state, transit_addr=addr, transit_pid=pid)

    def _spawn(self, state: BaoClusterState, node: BaoNode, bao: Path) -> BaoNode:
        node_dir = self.node_dir(node.name)
        (node_dir / "data").mkdir(parents=True, exist_ok=True, mode=0o700)
        config = node_dir / "config.hcl"
        write_private(config, self._config(state, node))
        pid = processes.spawn(
            [str(bao), "server", f"-config={config}"],
            cwd=node_dir,
            log=self.log_path(node.name),
            env=self._node_env(state),
        )
        return replace(node, pid=pid)

    def _initialise(self, state: BaoClusterState, *, timeout: float) -> None:
        first = state.nodes[0]
        self._wait_answering(first, timeout=timeout)
        with RaftClient(VaultSettings(address=first.api_addr, timeout=30.0)) as c:
            answer = c.init(first.api_addr, shares=SHARES, threshold=THRESHOLD, recovery=state.seal != "shamir")
        if state.seal == "shamir":
            keys: dict[str, Any] = {"keys_base64": answer.get("keys_base64") or [], "threshold": THRESHOLD}
        else:  # auto-unseal: the keys are recovery keys (for generate-root and the like), not unseal keys
            keys = {"recovery_keys_base64": answer.get("recovery_keys_base64") or [], "threshold": THRESHOLD}
        write_private(self.key_file, json.dumps(keys, indent=2) + "\n")
        write_private(self.token_file, str(answer.get("root_token", "")) + "\n")
        for node in state.nodes:
            self.unseal(node.name, wait_timeout=timeout)

    def _wait_answering(self, node: BaoNode, *, timeout: float) -> None:
        def observe() -> str:
            if not processes.is_running(node.pid):
                raise LabError(f"{node.name} exited; last log lines:\n{self.log_tail(node.name)}")
            try:
                with RaftClient(VaultSettings(address=node.api_addr, timeout=2.0)) as c:
                    c.health(node.api_addr)
            except ClusterOpsError as err:
                return str(err)
            return ""

        self._wait(observe, timeout=timeout, what=f"{node.name} to answer")

    def unseal(self, name: str, *, key_file: str | os.PathLike[str] | None = None, wait_timeout: float = 30.0) -> None:
        """Unseal one node with the lab's Shamir keys (or those in `key_file`). A node that is still
        joining the cluster through retry_join completes the join with them. With the transit seal
        the node unseals itself: this only waits for it."""
        state = self.state()
        node = state.node(name)
        keys = self.unseal_keys(key_file) if state.seal == "shamir" else []
        self._wait_answering(node, timeout=wait_timeout)

        def observe() -> str:
            if not processes.is_running(node.pid):
                raise LabError(f"{node.name} exited; last log lines:\n{self.log_tail(node.name)}")
            try:
                with RaftClient(VaultSettings(address=node.api_addr, timeout=5.0)) as c:
                    if not keys:
                        return "" if c.health(node.api_addr).code in (200, 429, 473) else "not unsealed yet"
                    return "" if unseal(c, node.api_addr, keys) else "still sealed"
            except ClusterOpsError as err:
                return str(err)

        self._wait(observe, timeout=wait_timeout, what=f"{name} to unseal")

    def stop(self, name: str, *, kill: bool = False) -> BaoNode:
        """SIGTERM (a clean shutdown: an active node steps down) or SIGKILL; it stays a raft peer."""
        state = self.state()
        node = state.node(name)
        processes.stop(node.pid, kill=kill)
        node = replace(node, pid=None)
        self._save(state.with_node(node))
        return node

    def start(
        self,
        name: str,
        *,
        version: str | None = None,
        unseal_keys: bool = True,
        key_file: str | os.PathLike[str] | None = None,
        timeout: float = 60.0,
    ) -> BaoNode:
        """Start a stopped node (its data kept), optionally on another version, and unseal it."""
        state = self.state()
        node = state.node(name)
        if processes.is_running(node.pid):
            raise LabError(f"{name} is already running (pid {node.pid})", hint=f"`clusterops lab stop {name}` first")
        node = replace(node, version=version or node.version)
        node = self._spawn(state, node, binaries.openbao_binary(node.version))
        self._save(state.with_node(node))
        if unseal_keys:
            self.unseal(name, key_file=key_file, wait_timeout=timeout)
        else:
            self._wait_answering(node, timeout=timeout)
        return node

    def add_node(self, name: str, ip: str, *, version: str | None = None, timeout: float = 60.0) -> BaoNode:
        """A new node (a replacement machine, new node_id and address) that joins and is unsealed."""
        state = self.state()
        if name in {n.name for n in state.nodes}:
            raise UsageError(f"the OpenBao lab already has a node named {name!r}")
        node = BaoNode(name, ip, version or state.nodes[0].version)
        state = state.with_node(node)
        self._save(state)
        node = self._spawn(state, node, binaries.openbao_binary(node.version))
        self._save(state.with_node(node))
        self.unseal(name, wait_timeout=timeout)
        return node

    def forget(self, name: str) -> None:
        """Drop a stopped node from the lab's own records (its machine is gone); raft still lists it."""
        state = self.state()
        if processes.is_running(state.node(name).pid):
            raise LabError(f"{name} is running; stop it first")
        shutil.rmtree(self.node_dir(name), ignore_errors=True)
        self._save(state.without(name))

    # -- readiness ----------------------------------------------------------------------------

    def _wait(self, observe: Any, *, timeout: float, what: str) -> None:
        try:
            wait_until(observe, lambda r: Verdict(not r, r), timeout=timeout, interval=0.25, what=what)
        except GateTimeout as err:
            raise LabError(str(err), hint=f"node logs are in {self.base}/<node>/bao.log") from None

    def wait_ready(self, state: BaoClusterState | None = None, *, timeout: float = 90.0) -> None:
        """An active node, every lab node unsealed and a voter, autopilot healthy with full tolerance."""
        state = state or self.state()
        names = {n.name for n in state.nodes}
        want_ft = (len(names) - 1) // 2

        def observe() -> str:
            for n in state.nodes:
                if not processes.is_running(n.pid):
                    raise LabError(f"{n.name} exited; last log lines:\n{self.log_tail(n.name)}")
            with self.client(state.nodes[0]) as c:
                try:
                    roles = {n.name: c.health(n.api_addr).code for n in state.nodes}
                    if 200 not in roles.values():
                        return f"no active node yet ({roles})"
                    if any(code not in (200, 429, 473) for code in roles.values()):
                        return f"not every node is unsealed ({roles})"
                    active = next(n for n in state.nodes if roles[n.name] == 200)
                    servers = c.raft_configuration(active.api_addr).get("servers") or []
                    voters = {s.get("node_id") for s in servers if s.get("voter")}
                    if voters != names:
                        return f"voters are {sorted(str(v) for v in voters)}, want {sorted(names)}"
                    ap = c.autopilot_state(active.api_addr)
                    if not ap.get("healthy"):
                        return "autopilot not healthy yet"
                    if int(ap.get("failure_tolerance", 0)) < want_ft:
                        return f"autopilot failure tolerance {ap.get('failure_tolerance')}, want {want_ft}"
                except ClusterOpsError as err:
                    return f"not answering: {err}"
            return ""

        self._wait(observe, timeout=timeout, what="the OpenBao lab to have an active node and all nodes as voters")

    def log_tail(self, name: str, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path(name).read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    # -- inventory ----------------------------------------------------------------------------

    def inventory(self) -> dict[str, Any]:
        """The inventory of the raft cluster, in the shape `clusterops vault ... -i` reads."""
        state = self.state()
        vault = {"token_file": str(self.token_file)}
        if state.seal == "shamir":
            vault["unseal_key_file"] = str(self.key_file)
        return {
            "cluster": "lab-openbao",
            "vault": vault,
            "servers": [
                {"name": n.name, "address": n.api_addr, "driver": {"type": "lab", "lab_dir": str(self.root)}}
                for n in state.nodes
            ],
        }


def free_prefix() -> str:
    """A loopback prefix 127.0.K with nothing listening on .1-.9, for a throwaway lab."""
    import random

    candidates = [f"127.0.{k}" for k in range(10, 250)]
    random.shuffle(candidates)
    for prefix in candidates:
        if not processes.listening_sockets([f"{prefix}.{i}" for i in range(1, 10)]):
            return prefix
    raise LabError("no free 127.0.K prefix for a throwaway lab")
