"""Options shared by several commands: Consul connection settings and output formats.

Tokens are never options (argv is visible to every user of the machine): they come from the
environment or from a file named by --token-file.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from clusterops.consul.client import ConsulClient

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


def consul_client(
    http_addr: str | None,
    token_file: str | None,
    ca_file: str | None,
    client_cert: str | None,
    client_key: str | None,
    tls_skip_verify: bool,
) -> ConsulClient:
    from clusterops.consul.client import ConsulClient
    from clusterops.settings import ConsulSettings

    settings = ConsulSettings.resolve(
        address=http_addr,
        token_file=token_file,
        ca_cert=ca_file,
        client_cert=client_cert,
        client_key=client_key,
        verify=False if tls_skip_verify else None,
    )
    return ConsulClient(settings)
