"""Read the cluster through whichever inventory server answers, skipping the one being restarted;
and look at each server directly, from where clusterops runs (`probe`).

A read through the leader carries serf and autopilot views that lag seconds behind a server
that just died or hung. A probe asks the server itself: its own HTTP API must answer with its
own raft view (in contact with a leader, in the current term), and its RPC port must accept TCP.
A hung (SIGSTOPped) agent still accepts TCP in the kernel's backlog, but its HTTP API does not
answer: both are needed.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

from clusterops.consul.client import ConsulClient
from clusterops.consul.inventory import Inventory
from clusterops.consul.state import ClusterState, read_cluster_state
from clusterops.durations import parse_duration
from clusterops.errors import AuthError, ClusterOpsError, ConnectionFailed
from clusterops.settings import ConsulSettings
from clusterops.tcp import tcp_problem

PROBE_TIMEOUT = 2.0


@dataclass(frozen=True)
class Probe:
    """One direct look at one server: ok, or what is wrong with it (in a short sentence)."""

    node: str
    ok: bool
    problem: str = ""
    raft_state: str = ""  # Leader, Follower, Candidate (from the agent's own stats)
    term: int = 0
    last_contact: float | None = None  # seconds since this server heard from its leader
    version: str = ""


def probe_verdict(node: str, raft: dict[str, object], version: str, *, max_contact: float) -> Probe:
    """Judge an agent's own raft stats (`/v1/agent/self` Stats.raft): pure, unit-tested."""
    state = str(raft.get("state", ""))
    try:
        term = int(str(raft.get("term", "0")))
    except ValueError:
        term = 0
    text = str(raft.get("last_contact", ""))
    contact: float | None = 0.0 if state == "Leader" else None
    if state != "Leader" and text not in ("", "never"):
        try:
            contact = parse_duration(text)
        except ClusterOpsError:
            contact = None
    problem = ""
    if state not in ("Leader", "Follower"):
        problem = f"{node} is in raft state {state or '?'}: it has no leader from its own point of view"
    elif contact is None or contact > max_contact:
        problem = f"{node} last heard from its leader " + ("never" if contact is None else f"{contact:.1f}s ago")
    return Probe(node, not problem, problem, state, term, contact, version)


def inventory_settings(inventory: Inventory) -> ConsulSettings:
    c = inventory.consul
    return ConsulSettings.resolve(
        address=inventory.servers[0].address,
        token_file=c.get("token_file"),
        ca_cert=c.get("ca_file"),
        client_cert=c.get("client_cert"),
        client_key=c.get("client_key"),
        verify=False if c.get("tls_skip_verify") else None,
    )


@dataclass
class ClusterReader:
    inventory: Inventory
    settings: ConsulSettings
    timeout: float = 3.0
    _clients: dict[str, ConsulClient] = field(default_factory=dict)
    _last_ok: str = ""

    def client(self, name: str) -> ConsulClient:
        if name not in self._clients:
            server = self.inventory.server(name)
            assert server is not None
            settings = self.settings.with_address(server.address)
            settings = replace(settings, timeout=self.timeout)
            self._clients[name] = ConsulClient(settings, attempts=1)
        return self._clients[name]

    def read(self, exclude: frozenset[str] = frozenset()) -> ClusterState:
        """The first answer from a server not in `exclude`; raises ConnectionFailed if none answers."""
        errors = []
        # the server that answered last goes first: a server that is down (or unreachable, with a
        # connect timeout) costs a poll only once
        names = sorted(self.inventory.names, key=lambda n: n != self._last_ok)
        for name in names:
            if name in exclude:
                continue
            client = self.client(name)
            try:
                state = read_cluster_state(client)
                self._last_ok = name
                return state
            except AuthError:
                raise
            except ClusterOpsError as err:
                errors.append(f"{name}: {str(err).splitlines()[0]}")
        raise ConnectionFailed("no server of the inventory answered: " + "; ".join(errors))

    def probe(self, name: str, rpc_address: str = "", *, max_contact: float = 2.0) -> Probe:
        """Ask `name` itself, with a short timeout: its HTTP API and its own raft view, then its
        RPC port (`rpc_address`, host:port, when known). Never retried: a probe is one look."""
        server = self.inventory.server(name)
        assert server is not None
        settings = replace(self.settings.with_address(server.address), timeout=PROBE_TIMEOUT)
        client = ConsulClient(settings, attempts=1)
        try:
            try:
                me = client.agent_self()
            except AuthError:  # no agent:read: the leader view alone still proves it answers now
                client.leader()
                me = {"Stats": {"raft": {"state": "Follower", "last_contact": "0s"}}}
        except ConnectionFailed:
            return Probe(
                name, False, f"{name} does not answer its HTTP API at {server.address} within {PROBE_TIMEOUT:g}s"
            )
        except ClusterOpsError as err:
            return Probe(name, False, f"{name} at {server.address}: {str(err).splitlines()[0][:160]}")
        finally:
            client.close()
        stats = (me.get("Stats") or {}).get("raft") or {}
        version = str((me.get("Config") or {}).get("Version", ""))
        verdict = probe_verdict(name, stats, version, max_contact=max_contact)
        if verdict.ok and rpc_address:
            refused = tcp_problem(rpc_address, PROBE_TIMEOUT)
            if refused:
                return replace(verdict, ok=False, problem=f"{name}'s RPC port {rpc_address} refuses TCP: {refused}")
        return verdict

    def probe_all(self, targets: dict[str, str], *, max_contact: float = 2.0) -> list[Probe]:
        """Probe every server in `targets` (name -> RPC address) at once."""
        if not targets:
            return []
        with ThreadPoolExecutor(max_workers=len(targets)) as pool:
            futures = [pool.submit(self.probe, n, a, max_contact=max_contact) for n, a in sorted(targets.items())]
            return [f.result() for f in futures]

    def close(self) -> None:
        for c in self._clients.values():
            c.close()
        self._clients.clear()
