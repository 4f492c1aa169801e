"""Validate bind/advertise address configuration of Consul and Vault/OpenBao servers, offline, for CI.

Public API: `validate_consul`, `validate_vault` (return a `clusterops.findings.Report`), `load_facts`,
`live_host`, the rule catalog `RULES`, and the go-sockaddr evaluator `evaluate_template`.
"""

from __future__ import annotations

from clusterops.validate.catalog import RULES
from clusterops.validate.facts import Facts, HostFacts, load_facts
from clusterops.validate.live import live_host
from clusterops.validate.run import validate_consul, validate_vault
from clusterops.validate.sockaddr import evaluate as evaluate_template

__all__ = [
    "RULES",
    "Facts",
    "HostFacts",
    "evaluate_template",
    "live_host",
    "load_facts",
    "validate_consul",
    "validate_vault",
]
