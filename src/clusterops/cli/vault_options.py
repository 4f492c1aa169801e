"""Vault / OpenBao connection options, named as the `vault`/`bao` CLIs name them, declared once.

The `kv` group's callback takes them (`clusterops kv --address A get P`) and `kv_connection` adds the
same options to every subcommand that connects (`clusterops kv get P --address A`); a value given at
the subcommand wins over the group's.

Tokens are never options (argv is visible to every user of the machine): they come from
VAULT_TOKEN / BAO_TOKEN, ~/.vault-token, or a file named by --token-file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from clusterops.cli.options import with_connection

if TYPE_CHECKING:
    from clusterops.kv.client import VaultClient
    from clusterops.settings import VaultSettings

Address = Annotated[
    str | None,
    typer.Option("--address", help="Vault/OpenBao address (env: VAULT_ADDR, BAO_ADDR).", show_default=False),
]
TokenFile = Annotated[
    str | None,
    typer.Option(
        "--token-file", help="File holding the token (env: VAULT_TOKEN, BAO_TOKEN; ~/.vault-token).", show_default=False
    ),
]
Namespace = Annotated[
    str | None, typer.Option("--namespace", "-n", help="Namespace (env: VAULT_NAMESPACE).", show_default=False)
]
CaCert = Annotated[str | None, typer.Option("--ca-cert", help="CA bundle (env: VAULT_CACERT).", show_default=False)]
CaPath = Annotated[
    str | None, typer.Option("--ca-path", help="Folder of CA certificates (env: VAULT_CAPATH).", show_default=False)
]
ClientCert = Annotated[
    str | None, typer.Option("--client-cert", help="Client certificate (env: VAULT_CLIENT_CERT).", show_default=False)
]
ClientKey = Annotated[
    str | None, typer.Option("--client-key", help="Client key (env: VAULT_CLIENT_KEY).", show_default=False)
]
SkipVerify = Annotated[
    bool, typer.Option("--tls-skip-verify", help="Do not verify TLS certificates (env: VAULT_SKIP_VERIFY).")
]


@dataclass(frozen=True)
class VaultOptions:
    address: str | None = None
    token_file: str | None = None
    namespace: str | None = None
    ca_cert: str | None = None
    ca_path: str | None = None
    client_cert: str | None = None
    client_key: str | None = None
    tls_skip_verify: bool = False
    output_policy: bool = False


OutputPolicy = Annotated[
    bool,
    typer.Option("--output-policy", help="Print the ACL policy the command needs (HCL) instead of running it."),
]
VAULT_OPTIONS: dict[str, Any] = {
    "address": Address,
    "token_file": TokenFile,
    "namespace": Namespace,
    "ca_cert": CaCert,
    "ca_path": CaPath,
    "client_cert": ClientCert,
    "client_key": ClientKey,
    "tls_skip_verify": SkipVerify,
    "output_policy": OutputPolicy,
}
F = TypeVar("F")


def kv_connection(func: F) -> F:
    """A command that connects: takes the Vault options itself too; the merged ones are `ctx.obj`."""
    return with_connection(VaultOptions, VAULT_OPTIONS, inject=None)(func)  # type: ignore[type-var]


def vault_settings(opts: VaultOptions) -> VaultSettings:
    from clusterops.settings import VaultSettings

    return VaultSettings.resolve(
        address=opts.address,
        token_file=opts.token_file,
        namespace=opts.namespace,
        ca_cert=opts.ca_cert,
        ca_path=opts.ca_path,
        client_cert=opts.client_cert,
        client_key=opts.client_key,
        verify=False if opts.tls_skip_verify else None,
    )


def vault_client(opts: VaultOptions, *, pool_size: int = 32) -> VaultClient:
    from clusterops.kv.client import VaultClient

    return VaultClient(vault_settings(opts), pool_size=pool_size)


TO_TOKEN_ENV = "CLUSTEROPS_TO_TOKEN"
TO_TOKEN_FILE_ENV = "CLUSTEROPS_TO_TOKEN_FILE"


def other_client(
    opts: VaultOptions, address: str, token_file: str | None, namespace: str | None, *, pool_size: int = 32
) -> VaultClient:
    """A second server (e.g. production next to staging): same TLS options, its own address and token.

    The destination's token comes from --to-token-file, else CLUSTEROPS_TO_TOKEN_FILE, else
    CLUSTEROPS_TO_TOKEN; without one the command stops (exit 2): the source's token is never sent
    to another server.
    """
    import os

    from clusterops.errors import UsageError
    from clusterops.kv.client import VaultClient
    from clusterops.settings import _read_token_file, check_token

    if token_file:
        token = _read_token_file("--to-token-file", token_file)
    elif os.environ.get(TO_TOKEN_FILE_ENV):
        token = _read_token_file(TO_TOKEN_FILE_ENV, os.environ[TO_TOKEN_FILE_ENV])
    elif os.environ.get(TO_TOKEN_ENV):
        token = check_token(os.environ[TO_TOKEN_ENV].strip(), TO_TOKEN_ENV)
    else:
        raise UsageError(
            f"--to-addr {address} needs that server's own token: the source token is not sent to another server",
            hint=f"give --to-token-file FILE (or set {TO_TOKEN_FILE_ENV} or {TO_TOKEN_ENV})",
        )
    settings = vault_settings(opts).with_address(address, token=token, namespace=namespace)
    return VaultClient(settings, pool_size=pool_size)
