"""`clusterops lab vault`: a real OpenBao raft cluster in the lab dir (nodes v1..vN on PREFIX.i:8200).

`clusterops lab up --vault-servers N`, `lab stop|start vN` and `lab inventory --vault` reach the
same functions; `clusterops lab down` stops these nodes too (every process under the lab dir).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from clusterops.lab.openbao_cluster import OpenBaoCluster

app = typer.Typer(help="A real OpenBao raft cluster (nodes v1..vN on PREFIX.i:8200).", no_args_is_help=True)

DirOption = typer.Option(None, "--dir", envvar="CLUSTEROPS_LAB_DIR", help="Lab state dir.", show_default=False)


def _cluster(root: Path | None) -> OpenBaoCluster:
    from clusterops.lab.openbao_cluster import OpenBaoCluster

    return OpenBaoCluster(root)


def is_vault_node(root: Path | None, name: str) -> bool:
    """True when `name` is a node of the lab's OpenBao raft cluster (for `lab stop|start vN`)."""
    cluster = _cluster(root)
    return cluster.exists() and name in {n.name for n in cluster.state().nodes}


def up_cluster(
    root: Path | None, nodes: int, version: str | None, prefix: str, timeout: float, seal: str = "shamir"
) -> None:
    import time

    from clusterops.lab import binaries

    cluster = _cluster(root)
    started = time.monotonic()
    state = cluster.up(
        nodes=nodes, version=version or binaries.DEFAULT_OPENBAO, prefix=prefix, seal=seal, timeout=timeout
    )
    typer.echo(
        f"OpenBao raft cluster up in {time.monotonic() - started:.1f}s: {len(state.nodes)} nodes on "
        f"{state.nodes[0].version}, initialised and unsealed ({state.seal} seal)"
    )
    if state.transit_addr:
        typer.echo(f"  transit  {state.transit_addr}  pid {state.transit_pid} (auto-unseal)")
    for n in state.nodes:
        typer.echo(f"  {n.name}  {n.api_addr}  pid {n.pid}")
    keys = "unseal keys" if state.seal == "shamir" else "recovery keys"
    typer.echo(f"{keys} in {cluster.key_file}, root token in {cluster.token_file} (mode 0600)")


@app.command()
def up(
    nodes: Annotated[int, typer.Option("--nodes", help="Number of nodes (3 or 5).")] = 3,
    vault_version: Annotated[str | None, typer.Option("--vault-version", help="OpenBao version.")] = None,
    prefix: Annotated[str, typer.Option("--prefix", help="Node i listens on PREFIX.i:8200.")] = "127.0.0",
    timeout: Annotated[
        str, typer.Option("--timeout", help="How long to wait for a ready cluster (e.g. 90s, 3m).")
    ] = "90s",
    seal: Annotated[
        str, typer.Option("--seal", help="shamir (keys in the lab dir) or transit (auto-unseal via a 2nd OpenBao).")
    ] = "shamir",
    root: Path | None = DirOption,
) -> None:
    """Start, initialise and unseal N nodes; wait for an active node, N voters and healthy autopilot."""
    from clusterops.durations import parse_duration

    up_cluster(root, nodes, vault_version, prefix, parse_duration(timeout, name="--timeout"), seal)


@app.command()
def down(root: Path | None = DirOption) -> None:
    """Stop the raft cluster and remove its files (the Consul lab is left alone)."""
    stopped = _cluster(root).down()
    typer.echo(f"OpenBao raft cluster down: stopped {', '.join(stopped) if stopped else 'nothing'}")


def stop_node(root: Path | None, node: str, kill: bool) -> None:
    _cluster(root).stop(node, kill=kill)
    typer.echo(f"{node} {'killed' if kill else 'stopped'}")


def start_node(
    root: Path | None, node: str, version: str | None, unseal_key_file: str | None, sealed: bool = False
) -> None:
    n = _cluster(root).start(node, version=version, unseal_keys=not sealed, key_file=unseal_key_file)
    typer.echo(f"{node} started on OpenBao {n.version} (pid {n.pid}){', left sealed' if sealed else ', unsealed'}")


@app.command()
def stop(
    node: Annotated[str, typer.Argument(help="Node name, e.g. v2.")],
    kill: Annotated[bool, typer.Option("--kill", help="SIGKILL instead of a clean SIGTERM.")] = False,
    root: Path | None = DirOption,
) -> None:
    """Stop one node (it stays a raft voter, as a crashed or restarting node does)."""
    stop_node(root, node, kill)


@app.command()
def start(
    node: Annotated[str, typer.Argument(help="Node name, e.g. v2.")],
    vault_version: Annotated[str | None, typer.Option("--vault-version", help="Start on this version.")] = None,
    unseal_key_file: Annotated[
        str | None, typer.Option("--unseal-key-file", help="Shamir keys (default: the lab's).")
    ] = None,
    sealed: Annotated[bool, typer.Option("--sealed", help="Leave it sealed (no key given).")] = False,
    root: Path | None = DirOption,
) -> None:
    """Start a stopped node (its data kept), optionally on another version, and unseal it."""
    start_node(root, node, vault_version, unseal_key_file, sealed)


def print_inventory(root: Path | None) -> None:
    import yaml

    typer.echo(yaml.safe_dump(_cluster(root).inventory(), sort_keys=False).rstrip())


@app.command()
def inventory(root: Path | None = DirOption) -> None:
    """Print the raft cluster's inventory (for `clusterops vault ... -i`)."""
    print_inventory(root)


@app.command()
def status(root: Path | None = DirOption) -> None:
    """The lab's OpenBao processes (for the cluster's health: `clusterops vault status -i ...`)."""
    from clusterops.lab import processes

    state = _cluster(root).state()
    for n in state.nodes:
        running = "running" if processes.is_running(n.pid) else "stopped"
        typer.echo(f"{n.name}  {n.api_addr}  {n.version}  pid {n.pid or '-'}  {running}")
