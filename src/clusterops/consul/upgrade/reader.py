"""Read the cluster through whichever inventory server answers, skipping the one being restarted."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from clusterops.consul.client import ConsulClient
from clusterops.consul.inventory import Inventory
from clusterops.consul.state import ClusterState, read_cluster_state
from clusterops.errors import AuthError, ClusterOpsError, ConnectionFailed
from clusterops.settings import ConsulSettings


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

    def close(self) -> None:
        for c in self._clients.values():
            c.close()
        self._clients.clear()
