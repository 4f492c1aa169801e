"""`clusterops consul|vault preflight` and `clusterops facts collect`: read-only checks of the servers' hosts."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from clusterops.cli.options import FINDINGS_FORMATS, FailOn, format_option

if TYPE_CHECKING:
    from clusterops.findings import Severity
    from clusterops.preflight.run import PreflightResult

FindingsFormat = Annotated[str, format_option(*FINDINGS_FORMATS)]

Inventory = Annotated[str, typer.Option("--inventory", "-i", help="Inventory YAML (servers and their drivers).")]


MinNofile = Annotated[
    int,
    typer.Option(
        "--min-nofile", help="Recommended open-file soft limit (PF002); Consul's and Vault's units use 65536."
    ),
]
MaxClockOffset = Annotated[
    str, typer.Option("--max-clock-offset", help="Largest clock difference between servers (PF040).")
]
ProbeTimeout = Annotated[str, typer.Option("--probe-timeout", help="How long one TCP connect or UDP ping may take.")]


def _judging(fail_on: str, min_nofile: int, max_clock_offset: str, probe_timeout: str) -> tuple[Severity, Any, float]:
    """The --fail-on threshold, the rules' thresholds and the probe timeout, each checked (exit 2 when wrong)."""
    from clusterops.durations import parse_duration
    from clusterops.findings import Severity
    from clusterops.preflight.rules import Thresholds

    threshold = Severity(fail_on)  # checked while parsing (FailOn)
    thresholds = Thresholds(
        min_nofile=min_nofile, max_clock_offset=parse_duration(max_clock_offset, name="--max-clock-offset")
    )
    return threshold, thresholds, parse_duration(probe_timeout, name="--probe-timeout")


def consul_preflight(
    inventory: Inventory,
    fmt: FindingsFormat = "table",
    fail_on: FailOn = "error",
    gossip_key_file: Annotated[
        str | None,
        typer.Option("--gossip-key-file", help="File holding the gossip key, for UDP probes of an encrypted cluster."),
    ] = None,
    min_nofile: MinNofile = 65536,
    max_clock_offset: MaxClockOffset = "1s",
    probe_timeout: ProbeTimeout = "1.5s",
) -> None:
    """Check every server's host at once, read-only: the agent's open-file limits and use, the ports its
    configuration names (listening, and by the agent), TCP 8300-8302 and UDP 8301-8302 between every pair of
    servers (UDP by a real gossip ping), the data dir's space and mode, and clock offsets. Exit 1 on findings."""
    from clusterops.preflight.run import preflight

    threshold, thresholds, timeout = _judging(fail_on, min_nofile, max_clock_offset, probe_timeout)

    def progress(server: str, outcome: str) -> None:
        if fmt == "table" and sys.stderr.isatty():
            typer.echo(f"  {server}: probe {outcome}", err=True)

    result = preflight(
        inventory, thresholds=thresholds, gossip_key_file=gossip_key_file, probe_timeout=timeout, on_done=progress
    )
    _render(result, "clusterops consul preflight", fmt, threshold)


def vault_preflight(
    inventory: Inventory,
    fmt: FindingsFormat = "table",
    fail_on: FailOn = "error",
    min_nofile: MinNofile = 65536,
    max_clock_offset: MaxClockOffset = "1s",
    probe_timeout: ProbeTimeout = "1.5s",
) -> None:
    """Check every Vault/OpenBao node's host at once, read-only: the server's open-file limits and use, its API
    and cluster listeners (held by it), TCP to every other node's API and cluster ports, the raft data dir
    (lab nodes), and clock offsets. Exit 1 on findings."""
    from clusterops.preflight.vault import vault_preflight as run_vault_preflight

    threshold, thresholds, timeout = _judging(fail_on, min_nofile, max_clock_offset, probe_timeout)
    result = run_vault_preflight(inventory, thresholds=thresholds, probe_timeout=timeout)
    _render(result, "clusterops vault preflight", fmt, threshold)


def _render(result: PreflightResult, tool: str, fmt: str, threshold: Severity) -> None:
    from clusterops.findings import Report
    from clusterops.preflight.rules import RULES
    from clusterops.report import render

    for _server, error in sorted(result.failures.items()):
        typer.echo(f"error: {error}", err=True)
    report = Report(
        tool=tool,
        findings=tuple(result.findings),
        rules=tuple(RULES.values()),
        summary=f"{len(result.results)} of {len(result.views)} hosts probed in {result.wall:.1f}s",
    )
    if fmt == "json":
        from clusterops.report.jsonfmt import document

        doc: dict[str, Any] = document(report, fail_on=threshold)
        doc["matrix"] = [p.__dict__ for p in result.probes]
        doc["hosts"] = {name: _host_summary(result, name) for name in sorted(result.views)}
        doc["probe_failures"] = result.failures
        json.dump(doc, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        if fmt == "table":
            _print_matrix(result)
        render(report, fmt, sys.stdout, fail_on=threshold)
    code = report.exit_code(threshold)
    raise typer.Exit(2 if result.failures and code == 0 else code)


def _host_summary(result: PreflightResult, name: str) -> dict[str, Any]:
    r = result.results.get(name)
    if r is None:
        return {"probed": False, "error": result.failures.get(name, "")}
    a = r.answer
    return {
        "probed": True,
        "pid": a.get("pid"),
        "nofile": a.get("limits"),
        "open_fds": a.get("open_fds"),
        "unit_limit": a.get("unit_limit"),
        "data_dir": a.get("disk"),
        "probe_seconds": round(r.seconds, 3),
    }


def _print_matrix(result: PreflightResult) -> None:
    from rich.table import Table

    from clusterops.report.table import console as make_console

    names = sorted(result.views)
    table = Table(title="reachability (row: from, column: to)")
    table.add_column("from \\ to")
    for n in names:
        table.add_column(n)
    cells: dict[tuple[str, str], list[str]] = {}
    for p in result.probes:
        mark = "ok" if p.ok else ("?" if p.ok is None else "DROP" if p.proto == "udp" else "FAIL")
        cells.setdefault((p.source, p.target), []).append(f"{p.proto}/{p.port} {mark}")
    for src in names:
        row = [src]
        for dst in names:
            row.append("-" if src == dst else "\n".join(cells.get((src, dst), ["not probed"])))
        table.add_row(*row)
    make_console().print(table)


app = typer.Typer(help="Host facts for `validate --facts`, gathered from the real hosts.", no_args_is_help=True)


@app.command("collect")
def collect(
    inventory: Inventory,
    output: Annotated[Path, typer.Option("--output", "-o", help="Facts YAML to write ('-' for stdout).")],
) -> None:
    """Gather from each server's own host exactly what `validate --facts` reads: interfaces with flags and
    addresses, the default route, and the address variables of the agent's environment (never other ones)."""
    import yaml

    from clusterops.atomicfile import write_private
    from clusterops.preflight.run import collect_facts

    facts, failures = collect_facts(inventory)
    for error in failures.values():
        typer.echo(f"error: {error}", err=True)
    header = f"# host facts gathered by `clusterops facts collect -i {inventory}` from each server's host\n"
    text = header + yaml.safe_dump(facts, sort_keys=False)
    if str(output) == "-":
        sys.stdout.write(text)
    else:
        write_private(output, text)
        typer.echo(f"wrote facts for {len(facts['nodes'])} node(s) to {output}", err=True)
    raise typer.Exit(2 if failures else 0)
