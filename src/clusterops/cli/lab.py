"""`clusterops lab`: a real local Consul cluster (and OpenBao) for demos, tests and rehearsals."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from clusterops.cli import lab_vault
from clusterops.cli.options import format_option

if TYPE_CHECKING:
    from clusterops.lab.cluster import Lab

app = typer.Typer(
    help="A real local Consul cluster (servers on 127.0.0.N) and an OpenBao dev server.", no_args_is_help=True
)

DirOption = typer.Option(None, "--dir", envvar="CLUSTEROPS_LAB_DIR", help="Lab state dir.", show_default=False)

app.add_typer(lab_vault.app, name="vault")  # the OpenBao raft cluster: `lab vault ...`


def _lab(root: Path | None) -> Lab:
    from clusterops.lab.cluster import Lab

    return Lab(root)


@app.command()
def up(
    servers: int = typer.Option(3, "--servers", help="Number of Consul servers (3 or 5 for real clusters)."),
    consul_version: str = typer.Option(None, "--consul-version", help="Consul version (default: the upgrade's A)."),
    vault: bool = typer.Option(False, "--vault", help="Also start an OpenBao dev server."),
    vault_version: str = typer.Option(None, "--vault-version", help="OpenBao version."),
    acl: bool = typer.Option(False, "--acl", help="Enable ACLs with default deny and a management token."),
    tls: bool = typer.Option(
        False, "--tls", help="A lab CA; HTTPS only (8501, client certificates required), verified server RPC."
    ),
    vault_client_certs: bool = typer.Option(
        False, "--vault-client-certs", help="With --tls --vault: OpenBao requires client certificates too."
    ),
    prefix: str = typer.Option("127.0.0", "--prefix", help="Server i listens on PREFIX.i."),
    timeout: str = typer.Option("60s", "--timeout", help="How long to wait for a healthy cluster (e.g. 60s, 2m)."),
    vault_servers: int = typer.Option(0, "--vault-servers", help="Also an OpenBao raft cluster of N nodes."),
    root: Path | None = DirOption,
) -> None:
    """Start N servers and wait for a leader, N voters and healthy autopilot."""
    import time

    from clusterops.durations import parse_duration
    from clusterops.lab import binaries

    wait = parse_duration(timeout, name="--timeout")
    lab = _lab(root)
    started = time.monotonic()
    state = lab.up(
        servers=servers,
        consul_version=consul_version or binaries.CONSUL_FROM,
        vault=vault,
        vault_version=vault_version or binaries.DEFAULT_OPENBAO,
        acl=acl,
        prefix=prefix,
        timeout=wait,
        tls=tls,
        vault_client_certs=vault_client_certs,
    )
    took = time.monotonic() - started
    extras = [name for name, on in (("TLS", state.tls), ("ACLs", state.acl)) if on]
    with_ = f" with {' and '.join(extras)}" if extras else ""
    typer.echo(
        f"lab up in {took:.1f}s: {len(state.servers)} Consul {state.servers[0].version} servers{with_}, leader elected"
    )
    for s in state.servers:
        typer.echo(f"  {s.name}  {s.http_addr}  pid {s.pid}")
    if state.vault:
        typer.echo(f"  openbao {state.vault.version}  {state.vault.addr}  pid {state.vault.pid}")
    typer.echo(f'state in {lab.root}; `eval "$(clusterops lab env)"` to point the CLIs at it')
    if vault_servers:
        lab_vault.up_cluster(root, vault_servers, vault_version, prefix, max(wait, 90))


@app.command()
def down(root: Path | None = DirOption) -> None:
    """Stop everything the lab started and remove its state."""
    stopped = _lab(root).down()
    typer.echo(f"lab down: stopped {', '.join(stopped) if stopped else 'nothing (nothing was running)'}")


@app.command()
def status(
    root: Path | None = DirOption,
    fmt: Annotated[str, format_option("table", "json")] = "table",
) -> None:
    """Show the lab's processes, versions and addresses."""
    from clusterops.lab import processes

    lab = _lab(root)
    state = lab.state()
    procs: list[tuple[str, str, str, int | None]] = [(s.name, s.http_addr, s.version, s.pid) for s in state.servers]
    if state.vault:
        procs.append(("openbao", state.vault.addr, state.vault.version, state.vault.pid))
    rows = [
        {"name": name, "addr": addr, "version": version, "pid": pid, "running": processes.is_running(pid)}
        for name, addr, version, pid in procs
    ]
    if fmt == "json":
        doc = {"root": str(lab.root), "acl": state.acl, "tls": state.tls, "processes": rows}
        typer.echo(json.dumps(doc, indent=2))
        return
    from rich.table import Table

    from clusterops.report.table import console as make_console

    table = Table(title=f"lab {lab.root}")
    for col in ("name", "address", "version", "pid", "process"):
        table.add_column(col)
    for name, addr, version, pid in procs:
        table.add_row(name, addr, version, str(pid or "-"), "running" if processes.is_running(pid) else "stopped")
    make_console().print(table)


@app.command()
def env(root: Path | None = DirOption) -> None:
    """Print `export` lines that point Consul's and Vault's CLIs (and clusterops) at the lab.

    Tokens stay in their files: CONSUL_HTTP_TOKEN_FILE names one, and VAULT_TOKEN is read from
    one by the shell (`$(cat FILE)`) when the lines are evaluated, so no token is printed."""
    from clusterops.lab.inventory import lab_env

    lab = _lab(root)
    lines = [f"export {name}={shlex.quote(value)}" for name, value in lab_env(lab)]
    if lab.state().vault:
        lines.append(f'export VAULT_TOKEN="$(cat {shlex.quote(str(lab.vault_token_file))})"')
    typer.echo("\n".join(lines))


@app.command()
def stop(
    node: str = typer.Argument(..., help="Server name, e.g. s2."),
    kill: bool = typer.Option(False, "--kill", help="SIGKILL instead of a graceful SIGTERM."),
    root: Path | None = DirOption,
) -> None:
    """Stop one server (it stays a Raft voter, as a real crashed or restarting server does)."""
    if lab_vault.is_vault_node(root, node):
        lab_vault.stop_node(root, node, kill)
        return
    _lab(root).stop(node, kill=kill)
    typer.echo(f"{node} {'killed' if kill else 'stopped'}")


@app.command()
def start(
    node: str = typer.Argument(..., help="Server name, e.g. s2."),
    consul_version: str = typer.Option(None, "--consul-version", help="Start on this version (an upgrade)."),
    vault_version: str = typer.Option(None, "--vault-version", help="OpenBao node vN: start on this version."),
    unseal_key_file: str = typer.Option(None, "--unseal-key-file", help="OpenBao node vN: Shamir keys file."),
    root: Path | None = DirOption,
) -> None:
    """Start a stopped server, optionally on another Consul version; its data is kept."""
    if lab_vault.is_vault_node(root, node):
        lab_vault.start_node(root, node, vault_version, unseal_key_file)
        return
    server = _lab(root).start(node, consul_version=consul_version)
    typer.echo(f"{node} started on Consul {server.version} (pid {server.pid})")


@app.command()
def wipe(node: str = typer.Argument(..., help="A stopped server."), root: Path | None = DirOption) -> None:
    """Delete a stopped server's data dir, as if its machine had been replaced."""
    _lab(root).wipe(node)
    typer.echo(f"{node}: data dir wiped; `clusterops lab start {node}` brings it back as a new node")


@app.command()
def inventory(
    root: Path | None = DirOption,
    vault: bool = typer.Option(False, "--vault", help="The OpenBao raft cluster's inventory."),
) -> None:
    """Print the YAML inventory of the lab's servers, for the other commands."""
    if vault:
        lab_vault.print_inventory(root)
        return
    import yaml

    from clusterops.lab.inventory import lab_inventory

    typer.echo(yaml.safe_dump(lab_inventory(_lab(root)), sort_keys=False).rstrip())


@app.command()
def fetch(
    consul_version: list[str] = typer.Option(None, "--consul-version", help="Consul versions (default: the pair)."),
    openbao_version: list[str] = typer.Option(None, "--openbao-version", help="OpenBao versions (default: both)."),
) -> None:
    """Build/install server binaries into the cache; with no option, the lab's default versions."""
    from clusterops.lab import binaries

    if not consul_version and not openbao_version:
        consul_version, openbao_version = list(binaries.CONSUL_VERSIONS), list(binaries.OPENBAO_VERSIONS)
    for v in consul_version or []:
        typer.echo(f"consul {v}: {binaries.consul_binary(v)}")
    for v in openbao_version or []:
        typer.echo(f"openbao {v}: {binaries.openbao_binary(v)}")
