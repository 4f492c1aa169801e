"""The lab's certificates: one CA, made by the lab's own Consul (`consul tls ca create`), signing
each server's certificate (`consul tls cert create -server`), a client certificate
(`consul tls cert create -client`) and OpenBao's listener certificate (openssl CLI).

    <root>/tls/ca.pem, ca-key.pem              the lab CA
    <root>/tls/<node>.pem, <node>-key.pem      Consul server certificates: server.<dc>.consul, localhost,
                                               127.0.0.1 and the server's own address
    <root>/tls/client.pem, client-key.pem      client.<dc>.consul, for the CLIs (HTTPS requires it)
    <root>/tls/openbao.pem, openbao-key.pem    OpenBao's listener: localhost, 127.0.0.1

Keys are mode 0600, the folder 0700. Nothing here is secret to the lab's owner, but a CA key is a
CA key.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from clusterops.errors import LabError

TLS_DIR = "tls"


@dataclass(frozen=True)
class LabCerts:
    """Where the lab's certificate files are."""

    dir: Path

    @property
    def ca(self) -> Path:
        return self.dir / "ca.pem"

    @property
    def ca_key(self) -> Path:
        return self.dir / "ca-key.pem"

    def server(self, name: str) -> tuple[Path, Path]:
        return self.dir / f"{name}.pem", self.dir / f"{name}-key.pem"

    @property
    def client(self) -> tuple[Path, Path]:
        return self.dir / "client.pem", self.dir / "client-key.pem"

    @property
    def openbao(self) -> tuple[Path, Path]:
        return self.dir / "openbao.pem", self.dir / "openbao-key.pem"


def _run(argv: list[str], cwd: Path, what: str) -> None:
    try:
        done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=60, check=False)
    except OSError as err:
        raise LabError(f"cannot {what}: {argv[0]}: {err.strerror}") from None
    if done.returncode != 0:
        said = (done.stderr or done.stdout).strip().splitlines()
        raise LabError(f"cannot {what}: {argv[0]} exited {done.returncode}: {said[-1] if said else ''}")


def _move_pair(workdir: Path, cert: Path, key: Path) -> None:
    """`consul tls cert create` names its output after the dc and a counter; give it our names."""
    keys = list(workdir.glob("*-key.pem"))
    certs = [p for p in workdir.glob("*.pem") if p not in keys]
    if len(keys) != 1 or len(certs) != 1:
        raise LabError(f"consul tls wrote unexpected files: {sorted(p.name for p in workdir.iterdir())}")
    shutil.move(certs[0], cert)
    shutil.move(keys[0], key)
    key.chmod(0o600)
    cert.chmod(0o644)


def make_ca(consul_bin: Path, certs: LabCerts) -> None:
    certs.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    certs.dir.chmod(0o700)
    with tempfile.TemporaryDirectory(dir=certs.dir) as tmp:
        _run([str(consul_bin), "tls", "ca", "create", "-days=30"], Path(tmp), "create the lab CA")
        _move_pair(Path(tmp), certs.ca, certs.ca_key)


def make_consul_cert(consul_bin: Path, certs: LabCerts, *, name: str, ip: str, datacenter: str) -> None:
    """A server certificate (`-server`) for one node, or the client certificate (`name="client"`)."""
    kind = ["-client"] if name == "client" else ["-server", f"-additional-ipaddress={ip}"]
    cert, key = certs.client if name == "client" else certs.server(name)
    with tempfile.TemporaryDirectory(dir=certs.dir) as tmp:
        _run(
            [
                str(consul_bin),
                "tls",
                "cert",
                "create",
                *kind,
                f"-dc={datacenter}",
                f"-ca={certs.ca}",
                f"-key={certs.ca_key}",
                "-days=30",
            ],
            Path(tmp),
            f"create the certificate of {name}",
        )
        _move_pair(Path(tmp), cert, key)


def make_openbao_cert(certs: LabCerts, *, host: str = "127.0.0.1") -> None:
    """OpenBao's listener certificate, signed by the lab CA with the openssl CLI (EC P-256)."""
    cert, key = certs.openbao
    _run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "30",
            "-subj",
            "/CN=openbao.lab",
            "-addext",
            f"subjectAltName=DNS:localhost,DNS:openbao.lab,IP:{host}",
            "-addext",
            "extendedKeyUsage=serverAuth",
            "-CA",
            str(certs.ca),
            "-CAkey",
            str(certs.ca_key),
        ],
        certs.dir,
        "create OpenBao's certificate",
    )
    key.chmod(0o600)
    cert.chmod(0o644)
