"""`clusterops validate`: exit codes, formats, --strict, --output, and no traceback on bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clusterops.cli.main import run
from tests.unit.validate.conftest import consul_hcl, consul_server, vault_hcl

FACTS = """
nodes:
  s1:
    interfaces:
      - {name: lo, flags: [up, loopback], addresses: [127.0.0.1/8]}
      - {name: eth0, flags: [up, broadcast], addresses: [10.0.0.1/24]}
    default_route: eth0
"""


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    good = tmp_path / "s1.hcl"
    good.write_text(consul_hcl(consul_server(1, 1, retry_join=None, bootstrap_expect=None, bootstrap=True)))
    warn = tmp_path / "warn.hcl"
    warn.write_text(
        consul_hcl(consul_server(1, 1, node_name="s1", retry_join=None, bootstrap_expect=None, bootstrap=True, bogus=1))
    )
    bad = tmp_path / "bad.hcl"
    bad.write_text(consul_hcl(consul_server(1, 1, node_name="s1", advertise_addr="0.0.0.0")))
    broken = tmp_path / "broken.hcl"
    broken.write_text('server = true\nbind_addr = "10.0.0.1\n')
    facts = tmp_path / "facts.yaml"
    facts.write_text(FACTS)
    return {"good": good, "warn": warn, "bad": bad, "broken": broken, "facts": facts}


def test_exit_codes(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    facts = ["--facts", str(files["facts"])]
    assert run(["validate", "consul", str(files["good"]), *facts]) == 0
    assert run(["validate", "consul", str(files["warn"]), *facts]) == 1  # an unknown key: Consul refuses to start
    assert run(["validate", "consul", str(files["warn"]), *facts, "--unknown-keys", "warn"]) == 0
    assert run(["validate", "consul", str(files["warn"]), *facts, "--unknown-keys", "warn", "--strict"]) == 1
    assert run(["validate", "consul", str(files["good"]), *facts, "--consul-version", "0.9"]) == 2
    assert run(["validate", "consul", str(files["good"]), *facts, "--unknown-keys", "maybe"]) == 2
    assert run(["validate", "consul", str(files["bad"]), *facts]) == 1
    capsys.readouterr()
    assert run(["validate", "consul", str(files["broken"])]) == 2
    err = capsys.readouterr().err
    assert f"{files['broken']}:2:" in err and "Traceback" not in err
    assert run(["validate", "consul", str(files["good"]), "--format", "xml"]) == 2
    assert run(["validate", "consul", str(files["good"]), *facts, "--live"]) == 2
    assert run(["validate", "consul", "/nonexistent/x.hcl"]) == 2


@pytest.mark.parametrize("fmt", ["table", "json", "junit", "sarif", "github"])
def test_every_format_renders(files: dict[str, Path], fmt: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["validate", "consul", str(files["bad"]), "--format", fmt]) == 1
    out = capsys.readouterr().out
    assert "VC004" in out
    if fmt == "json":
        doc = json.loads(out)
        finding = next(f for f in doc["findings"] if f["rule"] == "VC004")
        assert finding["file"] == str(files["bad"]) and finding["line"] == 8
    if fmt == "sarif":
        assert json.loads(out)["version"] == "2.1.0"


def test_output_file(files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "report.sarif"
    assert run(["validate", "consul", str(files["bad"]), "-f", "sarif", "-o", str(out)]) == 1
    assert json.loads(out.read_text())["runs"][0]["results"]
    assert "1 error(s)" in capsys.readouterr().err


def test_vault_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "v1.hcl"
    p.write_text(vault_hcl(1, cluster=None))
    assert run(["validate", "vault", str(p), "-f", "json"]) == 1
    assert "VV013" in {f["rule"] for f in json.loads(capsys.readouterr().out)["findings"]}
