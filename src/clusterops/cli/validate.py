"""`clusterops validate consul|vault`: check server address configuration offline, for CI.

Only parses arguments, calls `clusterops.validate`, renders the report. Exit 0 without errors, 1 with
errors (or warnings with --strict), 2 for usage errors and unreadable or malformed files.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from clusterops.cli.options import FINDINGS_FORMATS, finish_findings, format_option

if TYPE_CHECKING:
    pass

app = typer.Typer(
    help="Validate bind/advertise addresses of Consul and Vault/OpenBao server configs (offline, for CI).",
    no_args_is_help=True,
)

FactsOpt = Annotated[
    Path | None,
    typer.Option(
        "--facts",
        help="YAML host facts per node (interfaces, flags, addresses, default route, env).",
        show_default=False,
    ),
]
LiveOpt = Annotated[bool, typer.Option("--live", help="Use this host's interfaces as every node's facts.")]
FormatOpt = Annotated[str, format_option(*FINDINGS_FORMATS)]
StrictOpt = Annotated[bool, typer.Option("--strict", help="Exit 1 on warnings too.")]
OutputOpt = Annotated[
    Path | None, typer.Option("--output", "-o", help="Write the report to this file.", show_default=False)
]


def _run(
    kind: str,
    paths: list[str],
    facts: Path | None,
    live: bool,
    fmt: str,
    strict: bool,
    output: Path | None,
    **options: str | None,
) -> None:
    from clusterops.errors import UsageError
    from clusterops.findings import Severity
    from clusterops.report import FORMATS
    from clusterops.validate import live_host, load_facts, validate_consul, validate_vault

    if fmt not in FORMATS:
        raise UsageError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if facts is not None and live:
        raise UsageError("use either --facts or --live, not both")
    loaded = load_facts(facts) if facts is not None else None
    host = live_host() if live else None
    if kind == "consul":
        report = validate_consul(
            paths,
            facts=loaded,
            live=host,
            consul_version=options.get("consul_version"),
            unknown_keys=options.get("unknown_keys") or "error",
        )
    else:
        report = validate_vault(
            paths, facts=loaded, live=host, target=options.get("target") or "vault", version=options.get("version")
        )
    finish_findings(report, fmt, Severity.WARNING if strict else Severity.ERROR, output)


@app.command()
def consul(
    nodes: Annotated[list[str], typer.Argument(help="One config file or config directory per server.")],
    facts: FactsOpt = None,
    live: LiveOpt = False,
    fmt: FormatOpt = "table",
    strict: StrictOpt = False,
    output: OutputOpt = None,
    consul_version: Annotated[
        str | None,
        typer.Option(
            "--consul-version",
            help="Consul release to validate for (key set and start-up checks), e.g. 1.13.9; default: the newest "
            "known.",
            show_default=False,
        ),
    ] = None,
    unknown_keys: Annotated[
        str,
        typer.Option(
            "--unknown-keys", help="error (Consul refuses unknown keys) or warn (for a release newer than we know)."
        ),
    ] = "error",
) -> None:
    """Validate Consul servers: each NODE is loaded as `consul agent -config-dir/-config-file` loads it."""
    _run("consul", nodes, facts, live, fmt, strict, output, consul_version=consul_version, unknown_keys=unknown_keys)


@app.command()
def vault(
    configs: Annotated[list[str], typer.Argument(help="One config file or directory per Vault/OpenBao server.")],
    facts: FactsOpt = None,
    live: LiveOpt = False,
    fmt: FormatOpt = "table",
    strict: StrictOpt = False,
    output: OutputOpt = None,
    target: Annotated[
        str, typer.Option("--target", help="vault or openbao: the product whose start-up rules apply.")
    ] = "vault",
    version: Annotated[
        str | None,
        typer.Option(
            "--version", help="Release of the target, e.g. 2.7.2 (default: the newest known).", show_default=False
        ),
    ] = None,
) -> None:
    """Validate Vault/OpenBao servers: listeners, api_addr, cluster_addr, raft storage."""
    _run("vault", configs, facts, live, fmt, strict, output, target=target, version=version)
