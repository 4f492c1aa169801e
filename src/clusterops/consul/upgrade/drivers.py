"""Node drivers: how to stop one server, switch its version and start it again.

    lab   the local lab's processes (clusterops.lab)
    exec  command templates run locally through `sh -c` (for users who wrap their own tooling)
    ssh   the same templates run on the server through the system OpenSSH client

Templates may use {node}, {host}, {address} and {version}; values are shell-quoted when
substituted. A failing command raises DriverError with its exit code and the tail of its
output (never the environment).
"""

from __future__ import annotations

import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from clusterops.consul.inventory import DriverSpec, InventoryServer
from clusterops.errors import ClusterOpsError, UsageError

if TYPE_CHECKING:
    from clusterops.lab.cluster import Lab


class DriverError(ClusterOpsError):
    """A driver command failed; the server may be stopped."""

    exit_code = 1


class NodeDriver(Protocol):
    def stop(self, server: InventoryServer) -> None: ...

    def switch(self, server: InventoryServer, version: str) -> None: ...

    def start(self, server: InventoryServer, version: str) -> None: ...


@dataclass
class LabDriver:
    lab_dir: str

    def _lab(self) -> Lab:
        from clusterops.lab.cluster import Lab

        return Lab(self.lab_dir)

    def stop(self, server: InventoryServer) -> None:
        self._lab().stop(server.name)

    def switch(self, server: InventoryServer, version: str) -> None:
        from clusterops.lab import binaries

        binaries.consul_binary(version)  # fail before anything else if the binary cannot be had

    def start(self, server: InventoryServer, version: str) -> None:
        from clusterops.errors import LabError

        try:  # wait for the agent to answer, so a binary that dies at start-up fails here, fast
            self._lab().start(server.name, consul_version=version, wait=True)
        except LabError as err:
            raise DriverError(f"{server.name}: start on {version} failed: {err}") from None


def render(template: str, server: InventoryServer, version: str) -> str:
    values = {
        "node": shlex.quote(server.name),
        "host": shlex.quote(server.host),
        "address": shlex.quote(server.address),
        "version": shlex.quote(version),
    }
    try:
        return template.format(**values)
    except (KeyError, IndexError, ValueError) as err:
        raise UsageError(
            f"command template {template!r}: unknown placeholder {err}; "
            "use {node}, {host}, {address} or {version}"
        ) from None


def _run(argv: list[str], what: str, timeout: float) -> None:
    try:
        proc = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # a Ctrl-C at the terminal must not kill a start half-way
        )
    except subprocess.TimeoutExpired:
        raise DriverError(f"{what}: timed out after {timeout:g}s") from None
    except OSError as err:
        raise DriverError(f"{what}: cannot run {argv[0]}: {err.strerror}") from None
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-5:])
        raise DriverError(f"{what}: exit {proc.returncode}" + (f"\n{tail}" if tail else ""))


@dataclass
class ExecDriver:
    commands: dict[str, str]
    timeout: float = 300.0

    def argv(self, command: str) -> list[str]:
        return ["sh", "-c", command]

    def _do(self, key: str, server: InventoryServer, version: str) -> None:
        template = self.commands.get(key)
        if not template:
            return
        command = render(template, server, version)
        _run(self.argv(command), f"{server.name}: {key} ({command})", self.timeout)

    def stop(self, server: InventoryServer) -> None:
        self._do("stop", server, "")

    def switch(self, server: InventoryServer, version: str) -> None:
        self._do("switch", server, version)

    def start(self, server: InventoryServer, version: str) -> None:
        self._do("start", server, version)


@dataclass
class SshDriver(ExecDriver):
    host: str = ""
    user: str | None = None
    port: int | None = None
    identity_file: str | None = None
    options: tuple[str, ...] = ()

    def argv(self, command: str) -> list[str]:
        argv = ["ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10"]
        if self.port:
            argv += ["-p", str(self.port)]
        if self.identity_file:
            argv += ["-i", str(Path(self.identity_file).expanduser())]
        for opt in self.options:
            argv += ["-o", opt]
        target = f"{self.user}@{self.host}" if self.user else self.host
        return [*argv, "--", target, command]


def driver_for(server: InventoryServer) -> NodeDriver:
    spec: DriverSpec = server.driver
    s = spec.settings
    timeout = float(s.get("timeout", 300))
    if spec.type == "lab":
        return LabDriver(str(s["lab_dir"]))
    if spec.type == "exec":
        return ExecDriver(spec.commands, timeout=timeout)
    if spec.type == "ssh":
        options = s.get("options") or []
        if not isinstance(options, list):
            raise UsageError(f"{server.name}: ssh driver `options` must be a list of ssh -o options")
        return SshDriver(
            spec.commands,
            timeout=timeout,
            host=str(s.get("host") or server.host),
            user=s.get("user"),
            port=int(s["port"]) if s.get("port") else None,
            identity_file=s.get("identity_file"),
            options=tuple(str(o) for o in options),
        )
    raise UsageError(f"{server.name}: unknown driver type {spec.type!r}")
