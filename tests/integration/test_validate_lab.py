"""End to end: `clusterops validate consul --live` on the configs of a running lab finds no error."""

from __future__ import annotations

import json
import subprocess

from clusterops.lab import binaries
from clusterops.lab.cluster import Lab
from tests.integration.helpers import lab_env, run_cli


def test_the_running_labs_configs_validate_without_errors(session_lab: Lab) -> None:
    configs = [str(session_lab.node_dir(s.name) / "config.hcl") for s in session_lab.state().servers]
    result = run_cli("validate", "consul", *configs, "--live", "--format", "json", env=lab_env(session_lab))
    assert result.returncode == 0, result.stdout + result.stderr
    doc = json.loads(result.stdout)
    assert doc["counts"]["error"] == 0
    # the lab advertises loopback addresses to its peers: legal on one machine, worth a warning elsewhere
    assert {f["rule"] for f in doc["findings"]} == {"VC006"}
    assert all(f["file"] in configs and f["line"] for f in doc["findings"])

    strict = run_cli("validate", "consul", *configs, "--live", "--strict", env=lab_env(session_lab))
    assert strict.returncode == 1

    for config, server in zip(configs, session_lab.state().servers, strict=True):
        consul = binaries.consul_binary(server.version, build=False)
        proc = subprocess.run([str(consul), "validate", config], capture_output=True, text=True, check=False)
        assert proc.returncode == 0, proc.stdout + proc.stderr  # and Consul itself agrees
