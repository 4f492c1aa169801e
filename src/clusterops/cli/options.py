"""The CLI's one option language: output formats, and connection options declared once per group.

- `-f/--format` is always the output format. `format_option` checks the value while the command line is
  parsed, so a typo is a usage error (exit 2) before any connection or wait; its help names the formats.
- Connection options are declared once per system (Consul's names here; Vault's in `vault_options`) as a
  frozen dataclass plus its options. A group's callback takes them (`clusterops consul --http-addr A status`),
  and `with_connection` adds the same options to a subcommand (`clusterops consul status --http-addr A`);
  a value given at the subcommand wins over the group's.

Tokens are never options (argv is visible to every user of the machine): they come from the
environment or from a file named by --token-file.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import typer

if TYPE_CHECKING:
    from clusterops.consul.client import ConsulClient
    from clusterops.findings import Report, Severity

# -- formats ------------------------------------------------------------------------------------

#: The one vocabulary. `table` is the human format (a table, or lines where a table does not fit).
FORMAT_NAMES = ("table", "json", "yaml", "junit", "sarif", "github")
FINDINGS_FORMATS = ("table", "json", "junit", "sarif", "github")
DOC_FORMATS = ("table", "json", "yaml")


def _say(names: tuple[str, ...]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def format_option(*allowed: str, aliases: dict[str, str] | None = None) -> Any:
    """`-f/--format` taking exactly `allowed` (help says which), checked at parse time (exit 2).

    Use it as `Annotated[str, format_option("table", "json")]`.

    `aliases` maps a deprecated spelling (e.g. `text`) to its name in the vocabulary; it is accepted
    but not advertised.
    """
    names = tuple(allowed)
    unknown = [n for n in names if n not in FORMAT_NAMES]
    if unknown:  # pragma: no cover - a programming error, caught by the CLI language test
        raise ValueError(f"formats outside the vocabulary: {unknown}")
    old = dict(aliases or {})

    def check(value: str) -> str:
        value = old.get(value, value)
        if value not in names:
            raise typer.BadParameter(f"unknown format {value!r}; use {_say(names)}")
        return value

    return typer.Option("--format", "-f", help=f"Output format: {_say(names)}.", callback=check)


# -- shared option types ------------------------------------------------------------------------

MinFailureTolerance = Annotated[
    int,
    typer.Option(
        "--min-failure-tolerance",
        help="Servers that may still fail without losing quorum, at least (a 3-server cluster has 1).",
        min=0,
    ),
]
StateDir = Annotated[
    str | None,
    typer.Option(
        "--state-dir",
        help="Where runs keep journals and state (default: $CLUSTEROPS_STATE_DIR, else "
        "$XDG_STATE_HOME/clusterops, else ~/.local/state/clusterops).",
        show_default=False,
    ),
]
SEVERITIES = ("info", "warning", "error")


def _check_fail_on(value: str) -> str:
    if value not in SEVERITIES:
        raise typer.BadParameter(f"unknown level {value!r}; use {_say(SEVERITIES)}")
    return value


FailOn = Annotated[
    str,
    typer.Option("--fail-on", help="Exit 1 on findings at or above: info, warning or error.", callback=_check_fail_on),
]
"""The findings threshold, checked while the command line is parsed (exit 2), like `-f`."""

Apply = Annotated[bool, typer.Option("--apply", help="Make the change (default: only show the plan).")]
Yes = Annotated[bool, typer.Option("--yes", "-y", help="With --apply: do not ask for confirmation.")]


def finish_findings(report: Report, fmt: str, fail_on: str | Severity, output: Path | None = None) -> NoReturn:
    """The tail of every findings command: render `report` in `fmt` (to `output`, else stdout; the
    summary then goes to stderr) and exit 1 when a finding is at or above `fail_on`, else 0."""
    import sys

    from clusterops.errors import UsageError
    from clusterops.findings import Severity
    from clusterops.report import render

    threshold = Severity(fail_on)
    if output is None:
        render(report, fmt, sys.stdout, fail_on=threshold)
    else:
        try:
            with output.open("w", encoding="utf-8") as fh:
                render(report, fmt, fh, fail_on=threshold)
        except OSError as err:
            raise UsageError(f"cannot write {output}: {err.strerror or err}") from None
        typer.echo(report.summary, err=True)
    raise typer.Exit(report.exit_code(threshold))


def confirm_apply(question: str, *, yes: bool) -> None:
    """The `--apply` confirmation: asked on a terminal; without one, `--yes` is needed (a usage error,
    exit 2, before anything changes). A "no" ends the command with exit 1, nothing changed.

    The question goes to stderr, so stdout keeps only the command's output (a JSON document)."""
    import sys

    if yes:
        return
    if not sys.stdin.isatty():
        raise typer.BadParameter("stdin is not a terminal: confirm with --yes", param_hint="--yes")
    if not typer.confirm(question, err=True):
        typer.echo("aborted: nothing was changed", err=True)
        raise typer.Exit(1)


# -- connection options declared once -----------------------------------------------------------

C = TypeVar("C")
F = TypeVar("F", bound=Callable[..., Any])


def connection_parameters(cls: type[Any], options: dict[str, Any]) -> list[inspect.Parameter]:
    """The keyword parameters (one per dataclass field of `cls`) a command gains from `with_connection`."""
    return [
        inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=f.default, annotation=options[f.name])
        for f in fields(cls)
        if f.name in options
    ]


def merge_connection(group: C | None, here: C, defaults: C) -> C:
    """The subcommand's values where given (not the default), the group's otherwise."""
    if group is None:
        return here
    given = {
        f.name: getattr(here, f.name)
        for f in fields(here)  # type: ignore[arg-type]
        if getattr(here, f.name) != getattr(defaults, f.name)
    }
    return replace(group, **given)  # type: ignore[type-var]


def with_connection(cls: type[C], options: dict[str, Any], *, inject: str | None) -> Callable[[F], F]:
    """Add `cls`'s connection options to a command, merged with the group's (`ctx.obj`).

    With `inject`, the command receives the merged options as that keyword argument (and does not
    declare its options); without, the merged options become the command context's `obj` (the
    command must take `ctx: typer.Context` and read them with `ctx.find_object(cls)`).
    """
    defaults = cls()
    names = [f.name for f in fields(cls) if f.name in options]  # type: ignore[arg-type]

    def decorate(func: F) -> F:
        sig = inspect.signature(func, eval_str=True)
        own = [p for p in sig.parameters.values() if p.name != inject]
        has_ctx = any(p.annotation is typer.Context for p in own)
        extra = [] if has_ctx else [inspect.Parameter("_ctx", inspect.Parameter.KEYWORD_ONLY, annotation=typer.Context)]
        params = own + extra + connection_parameters(cls, options)
        ctx_name = next((p.name for p in own if p.annotation is typer.Context), "_ctx")

        @functools.wraps(func)
        def wrapper(**kwargs: Any) -> Any:
            ctx: typer.Context = kwargs[ctx_name] if has_ctx else kwargs.pop("_ctx")
            here = cls(**{n: kwargs.pop(n) for n in names})
            merged = merge_connection(ctx.find_object(cls), here, defaults)
            if inject is not None:
                kwargs[inject] = merged
            else:
                ctx.obj = merged
            return func(**kwargs)

        wrapper.__signature__ = sig.replace(parameters=params)  # type: ignore[attr-defined]
        wrapper.__annotations__ = {p.name: p.annotation for p in params}
        return wrapper  # type: ignore[return-value]

    return decorate


HttpAddr = Annotated[
    str | None, typer.Option("--http-addr", help="Consul HTTP address (env: CONSUL_HTTP_ADDR).", show_default=False)
]
TokenFile = Annotated[
    str | None,
    typer.Option(
        "--token-file", help="File holding the ACL token (env: CONSUL_HTTP_TOKEN(_FILE)).", show_default=False
    ),
]
CaFile = Annotated[str | None, typer.Option("--ca-file", help="CA bundle (env: CONSUL_CACERT).", show_default=False)]
ClientCert = Annotated[
    str | None, typer.Option("--client-cert", help="Client certificate (env: CONSUL_CLIENT_CERT).", show_default=False)
]
ClientKey = Annotated[
    str | None, typer.Option("--client-key", help="Client key (env: CONSUL_CLIENT_KEY).", show_default=False)
]
SkipVerify = Annotated[
    bool,
    typer.Option("--tls-skip-verify", help="Do not verify TLS certificates (env: CONSUL_HTTP_SSL_VERIFY=false)."),
]


@dataclass(frozen=True)
class ConsulConnection:
    """Consul's connection options, named as the `consul` CLI names them."""

    http_addr: str | None = None
    token_file: str | None = None
    ca_file: str | None = None
    client_cert: str | None = None
    client_key: str | None = None
    tls_skip_verify: bool = False

    def client(self) -> ConsulClient:
        from clusterops.consul.client import ConsulClient
        from clusterops.settings import ConsulSettings

        settings = ConsulSettings.resolve(
            address=self.http_addr,
            token_file=self.token_file,
            ca_cert=self.ca_file,
            client_cert=self.client_cert,
            client_key=self.client_key,
            verify=False if self.tls_skip_verify else None,
        )
        return ConsulClient(settings)


CONSUL_OPTIONS: dict[str, Any] = {
    "http_addr": HttpAddr,
    "token_file": TokenFile,
    "ca_file": CaFile,
    "client_cert": ClientCert,
    "client_key": ClientKey,
    "tls_skip_verify": SkipVerify,
}


def consul_connection(func: F) -> F:
    """A Consul command: gets `conn: ConsulConnection` (its options merged with the group's)."""
    return with_connection(ConsulConnection, CONSUL_OPTIONS, inject="conn")(func)


def consul_group_callback(
    ctx: typer.Context,
    http_addr: HttpAddr = None,
    token_file: TokenFile = None,
    ca_file: CaFile = None,
    client_cert: ClientCert = None,
    client_key: ClientKey = None,
    tls_skip_verify: SkipVerify = False,
) -> None:
    """Consul server cluster health: status, checks, gates, stale peers. Connection options go here or after
    the command."""
    ctx.obj = ConsulConnection(http_addr, token_file, ca_file, client_cert, client_key, tls_skip_verify)
