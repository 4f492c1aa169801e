"""A private Docker engine for the compose tests, and stand-ins for the images docker-compose.yml names.

`DockerEngine.start(root)` runs `scripts/docker-deps.sh` (Debian's docker.io and busybox-static, Docker Compose
built from the Go module proxy and cached), then starts a dockerd of its own: data, exec root, pid file and API
socket under `root`, `--iptables=false --ip-masq=false --bridge=none`, so no container can reach beyond this
machine and nothing of the host's Docker setup (if any) is used or changed. `stop()` removes what the engine
holds (containers, networks, volumes), stops the daemon and the containerd it started, and deletes `root`.

No image can be pulled here. `build_standins` makes `hashicorp/consul:<v>` and `openbao/openbao:<v>` with
`docker import` from a root filesystem of busybox (`busybox --install`: sh, wget, ...) and the static binaries the
lab already has (`clusterops.lab.binaries`), plus an entrypoint that does what the official images' entrypoints
do with the arguments docker-compose.yml gives them: `agent ...` becomes `consul agent -data-dir=/consul/data
-config-dir=/consul/config ...` and `server` becomes `bao server -config=/openbao/config ...`. Unlike the
official images they run the server as root (no su-exec, no chown of the mounts, no setcap).
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import signal
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from clusterops.lab import binaries

REPO = Path(__file__).resolve().parents[2]

CONSUL_ENTRYPOINT = """#!/bin/sh
# Stand-in for the official hashicorp/consul image's entrypoint (same argument handling, runs as root).
set -e
if [ "${1#-}" != "$1" ]; then set -- consul "$@"; fi
if [ "$1" = agent ]; then
  shift
  set -- consul agent -data-dir=/consul/data -config-dir=/consul/config "$@"
elif [ "$1" = version ] || consul --help "$1" 2>&1 | grep -q "consul $1"; then
  set -- consul "$@"
fi
exec "$@"
"""

OPENBAO_ENTRYPOINT = """#!/bin/sh
# Stand-in for the official openbao/openbao image's entrypoint (same argument handling, runs as root).
set -e
if [ "${1#-}" != "$1" ]; then set -- bao "$@"; fi
if [ "$1" = server ]; then
  shift
  set -- bao server -config=/openbao/config -dev-root-token-id="$BAO_DEV_ROOT_TOKEN_ID" \\
    -dev-listen-address="${BAO_DEV_LISTEN_ADDRESS:-0.0.0.0:8200}" "$@"
elif [ "$1" = version ] || bao --help "$1" 2>&1 | grep -q "bao $1"; then
  set -- bao "$@"
fi
exec "$@"
"""


def _die_with_parent() -> None:
    """In the forked child, before exec: SIGTERM when the process that started it dies (prctl
    PR_SET_PDEATHSIG), so dockerd stops its containers and containerd even when the test run is killed."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG = 1


def unmount_below(root: Path) -> None:
    """Lazily unmount every mount point at or below `root`, deepest first (dockerd bind-mounts its data root
    onto itself; `umount -R root` fails when root itself is not a mount point, and the mount leaked)."""
    try:
        lines = Path("/proc/self/mounts").read_text().splitlines()
    except OSError:
        return
    prefix = str(root).rstrip("/")
    points = [line.split()[1].encode().decode("unicode_escape") for line in lines if len(line.split()) > 1]
    for point in sorted({p for p in points if p == prefix or p.startswith(prefix + "/")}, key=len, reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True, check=False)


class EngineError(RuntimeError):
    pass


@dataclass
class DockerEngine:
    root: Path
    compose_binary: Path
    process: subprocess.Popen[bytes] | None = None
    env: dict[str, str] = field(default_factory=dict)

    # -- lifecycle ------------------------------------------------------------------------------

    @classmethod
    def start(cls, root: Path | None = None) -> DockerEngine:
        deps = subprocess.run(
            ["bash", str(REPO / "scripts" / "docker-deps.sh")], capture_output=True, text=True, check=False
        )
        if deps.returncode != 0:
            raise EngineError(f"scripts/docker-deps.sh failed ({deps.returncode}): {deps.stderr.strip()[-2000:]}")
        compose = Path(deps.stdout.strip().splitlines()[-1])
        # Short: the daemon's and containerd's unix sockets live under it (sun_path holds 107 bytes).
        root = root or Path(tempfile.mkdtemp(prefix="co-dk-", dir="/tmp"))
        engine = cls(root=root, compose_binary=compose)
        engine._launch()
        return engine

    def _launch(self) -> None:
        plugins = self.root / "config" / "cli-plugins"
        plugins.mkdir(parents=True, exist_ok=True)
        link = plugins / "docker-compose"
        if not link.exists():
            link.symlink_to(self.compose_binary)
        self.env = {
            **os.environ,
            "DOCKER_HOST": f"unix://{self.root / 'docker.sock'}",
            "DOCKER_CONFIG": str(self.root / "config"),
            "DOCKER_BUILDKIT": "0",
        }
        self.env.pop("DOCKER_CONTEXT", None)
        dockerd = shutil.which("dockerd") or "/usr/sbin/dockerd"
        log = open(self.root / "dockerd.log", "ab")  # noqa: SIM115 - closed with the process
        self.process = subprocess.Popen(
            [
                dockerd,
                f"--data-root={self.root / 'data'}",
                f"--exec-root={self.root / 'exec'}",
                f"--pidfile={self.root / 'dockerd.pid'}",
                f"--host=unix://{self.root / 'docker.sock'}",
                "--iptables=false",
                "--ip-masq=false",
                "--bridge=none",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=_die_with_parent,  # a test run killed mid-way (SIGKILL, SIGTERM) takes dockerd down too
        )
        log.close()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise EngineError(f"dockerd exited with {self.process.returncode}: {self.log_tail()}")
            if self.docker("version", check=False, timeout=10).returncode == 0:
                return
            time.sleep(0.5)
        self.stop()
        raise EngineError(f"dockerd did not answer within 60 s: {self.log_tail()}")

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join((self.root / "dockerd.log").read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        """Remove everything the engine holds, stop it, and delete its directory."""
        if self.process is not None and self.process.poll() is None:
            ids = self.docker("ps", "-aq", check=False, timeout=30).stdout.split()
            if ids:
                self.docker("rm", "-f", "-v", *ids, check=False, timeout=120)
            self.docker("network", "prune", "-f", check=False, timeout=60)
            self.docker("volume", "prune", "-f", check=False, timeout=60)
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=30)
        for pid in self._leftover_pids():  # containerd / shims started for our exec root
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        unmount_below(self.root)
        shutil.rmtree(self.root, ignore_errors=True)

    def _leftover_pids(self) -> list[int]:
        mine = str(self.root)
        pids = []
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                cmdline = (proc / "cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if mine in cmdline:
                pids.append(int(proc.name))
        return pids

    # -- commands -------------------------------------------------------------------------------

    def docker(
        self, *args: str, check: bool = True, timeout: float = 300, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            ["docker", *args],
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
            env={**self.env, **(env or {})},
            stdin=subprocess.DEVNULL,
        )
        if check and proc.returncode != 0:
            raise EngineError(f"docker {' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()[-3000:]}")
        return proc

    def compose(
        self, *args: str, project_dir: Path, env: dict[str, str] | None = None, check: bool = True, timeout: float = 600
    ) -> subprocess.CompletedProcess[str]:
        return self.docker(
            "compose", "--project-directory", str(project_dir), *args, check=check, timeout=timeout, env=env
        )

    def container_pid(self, container: str) -> int:
        return int(self.docker("inspect", "-f", "{{.State.Pid}}", container).stdout.strip())

    # -- images ---------------------------------------------------------------------------------

    def has_image(self, tag: str) -> bool:
        return self.docker("image", "inspect", tag, check=False, timeout=30).returncode == 0

    def build_standins(self, consul_versions: Sequence[str], openbao_versions: Sequence[str]) -> None:
        for version in consul_versions:
            tag = f"hashicorp/consul:{version}"
            if not self.has_image(tag):
                binary = binaries.consul_binary(version)
                self._import(
                    tag,
                    {"/bin/consul": binary},
                    CONSUL_ENTRYPOINT,
                    dirs=["/consul/data", "/consul/config"],
                    cmd='["agent", "-dev", "-client", "0.0.0.0"]',
                )
        for version in openbao_versions:
            tag = f"openbao/openbao:{version}"
            if not self.has_image(tag):
                binary = binaries.openbao_binary(version)
                self._import(
                    tag,
                    {"/bin/bao": binary},
                    OPENBAO_ENTRYPOINT,
                    dirs=["/openbao/config", "/openbao/file", "/openbao/logs"],
                    cmd='["server", "-dev"]',
                )

    def _import(self, tag: str, files: dict[str, Path], entrypoint: str, *, dirs: list[str], cmd: str) -> None:
        """`docker import` a root filesystem: busybox and its applets, the server binary (with the shared
        libraries it links, if any), the entrypoint, and the directories the image declares."""
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            made: set[str] = set()

            def mkdir(path: str, mode: int = 0o755) -> None:
                parts = Path(path).parts[1:]
                for i in range(1, len(parts) + 1):
                    name = "/".join(parts[:i])
                    if name in made:
                        continue
                    made.add(name)
                    info = tarfile.TarInfo(name)
                    info.type, info.mode = tarfile.DIRTYPE, mode
                    tar.addfile(info)

            def add_file(dest: str, source: Path, mode: int = 0o755) -> None:
                mkdir(str(Path(dest).parent))
                data = source.read_bytes()
                info = tarfile.TarInfo(dest.lstrip("/"))
                info.size, info.mode = len(data), mode
                tar.addfile(info, io.BytesIO(data))

            for d in ["/bin", "/usr/bin", "/usr/local/bin", "/sbin", "/etc", "/root", *dirs]:
                mkdir(d)
            mkdir("/tmp", 0o1777)
            add_file("/bin/busybox", Path("/bin/busybox"))
            applets = subprocess.run(["/bin/busybox", "--list-full"], capture_output=True, text=True, check=True)
            for applet in applets.stdout.split():
                if applet in ("bin/busybox",):
                    continue
                mkdir("/" + str(Path(applet).parent))
                info = tarfile.TarInfo(applet)
                info.type, info.linkname = tarfile.SYMTYPE, "/bin/busybox"
                tar.addfile(info)
            for dest, source in files.items():
                add_file(dest, source)
                for lib in _shared_libraries(source):
                    add_file(str(lib), lib, 0o644)
            script = entrypoint.encode()
            info = tarfile.TarInfo("usr/local/bin/docker-entrypoint.sh")
            info.size, info.mode = len(script), 0o755
            tar.addfile(info, io.BytesIO(script))
            for name, text in (("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"), ("etc/group", "root:x:0:\n")):
                data = text.encode()
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        proc = subprocess.run(
            [
                "docker",
                "import",
                "--change",
                'ENTRYPOINT ["docker-entrypoint.sh"]',
                "--change",
                f"CMD {cmd}",
                "--change",
                "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "-",
                tag,
            ],
            input=buf.getvalue(),
            capture_output=True,
            check=False,
            env=self.env,
            timeout=300,
        )
        if proc.returncode != 0:
            raise EngineError(f"docker import {tag} failed: {proc.stderr.decode(errors='replace')[-2000:]}")


def _shared_libraries(binary: Path) -> list[Path]:
    """The shared libraries `binary` loads (none for a static Go binary), resolved on this host."""
    proc = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, check=False)
    libs = []
    for line in proc.stdout.splitlines():
        for word in line.split():
            if word.startswith("/") and Path(word).exists():
                libs.append(Path(word))
    return sorted(set(libs))
