from __future__ import annotations

import subprocess
import sys

from clusterops import __version__
from clusterops.cli.main import run


def test_version(capsys: object) -> None:
    assert run(["--version"]) == 0


def test_help_lists_the_command_groups() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "clusterops.cli.main", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for group in ("lab", "consul", "validate", "kv"):
        assert group in out


def test_usage_error_exits_2() -> None:
    assert run(["lab", "no-such-command"]) == 2


def test_help_imports_no_http_client() -> None:
    # `clusterops --help` must stay fast: the CLI module may not import the heavy libraries.
    code = (
        "import sys, clusterops.cli.main; "
        "print(sorted(m for m in ('consul', 'hvac', 'requests', 'yaml', 'hcl') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
    assert __version__
