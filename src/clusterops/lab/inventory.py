"""The inventory of a lab: the same YAML shape an operator writes for real servers."""

from __future__ import annotations

from typing import Any

from clusterops.lab.cluster import Lab


def lab_inventory(lab: Lab) -> dict[str, Any]:
    state = lab.state()
    inv: dict[str, Any] = {"cluster": "lab", "datacenter": state.datacenter}
    consul: dict[str, Any] = {}
    if state.acl:
        consul["token_file"] = str(lab.management_token_file)
    if state.tls:
        cert, key = lab.certs.client
        consul.update(ca_file=str(lab.certs.ca), client_cert=str(cert), client_key=str(key))
    if consul:
        inv["consul"] = consul
    inv["servers"] = [
        {"name": s.name, "address": s.http_addr, "driver": {"type": "lab", "lab_dir": str(lab.root)}}
        for s in state.servers
    ]
    return inv


def lab_env(lab: Lab) -> list[tuple[str, str]]:
    """The variables that point Consul's and Vault's CLIs at the lab, as (name, value) pairs.

    No token value: CONSUL_HTTP_TOKEN_FILE names the management token's file; VAULT_TOKEN is not
    here (Vault has no token-file variable: `lab env` has the shell read `lab.vault_token_file`)."""
    state = lab.state()
    pairs = [("CONSUL_HTTP_ADDR", state.servers[0].http_addr)]
    cert, key = lab.certs.client
    if state.tls:
        pairs += [
            ("CONSUL_CACERT", str(lab.certs.ca)),
            ("CONSUL_CLIENT_CERT", str(cert)),
            ("CONSUL_CLIENT_KEY", str(key)),
        ]
    if state.acl:
        pairs.append(("CONSUL_HTTP_TOKEN_FILE", str(lab.management_token_file)))
    if state.vault:
        pairs.append(("VAULT_ADDR", state.vault.addr))
        if state.vault.addr.startswith("https://"):
            pairs.append(("VAULT_CACERT", str(lab.certs.ca)))
            if state.vault_client_certs:
                pairs += [("VAULT_CLIENT_CERT", str(cert)), ("VAULT_CLIENT_KEY", str(key))]
    return pairs
