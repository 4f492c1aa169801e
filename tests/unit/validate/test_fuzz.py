"""Property tests: random, truncated and mutated HCL/JSON and templates never end in a traceback.

Only `ConfigError` (a parse error with file and line, exit 2) or a Report may come out. Plain `random`
with fixed seeds keeps the cases reproducible.
"""

from __future__ import annotations

import contextlib
import json
import random
from collections.abc import Callable
from pathlib import Path

import pytest

from clusterops.errors import ConfigError
from clusterops.findings import Report
from clusterops.validate.facts import facts_from_dict
from clusterops.validate.run import validate_consul, validate_vault
from clusterops.validate.sockaddr import TemplateError, Unsupported, evaluate
from tests.unit.validate.conftest import consul_hcl, consul_server, host, vault_hcl

CONSUL_HCL = consul_hcl(
    consul_server(1, client_addr='{{ GetPrivateInterfaces | join "address" " " }}'),
    'ports {\n  http = 8500\n}\nacl {\n  enabled = true\n  tokens { agent = "x" }\n}\n',
)
CONSUL_JSON = json.dumps(
    {**consul_server(2), "ports": {"dns": -1}, "tls": {"defaults": {"verify_incoming": True}}}, indent=2
)
VAULT_HCL = vault_hcl(1, extra='seal "transit" {\n  address = "https://x"\n}\nui = true\n')
VAULT_JSON = json.dumps(
    {
        "storage": {"raft": {"path": "/d", "node_id": "v1"}},
        "listener": [{"tcp": {"address": "0.0.0.0:8200"}}],
        "api_addr": "https://10.0.0.1:8200",
        "cluster_addr": "https://10.0.0.1:8201",
    },
    indent=2,
)
SPECIAL = [*list('{}[]"=,:#/*<>\\\n\t $-.0123456789abcdefxyz'), "true", "<<EOF\n", "${", "{{", "}}", "é", "\x00"]
SEEDS = [
    ("consul", "s1.hcl", CONSUL_HCL),
    ("consul", "s1.json", CONSUL_JSON),
    ("vault", "v1.hcl", VAULT_HCL),
    ("vault", "v1.json", VAULT_JSON),
]
FACTS = facts_from_dict({"default": host("10.0.0.1/24")}, "facts.yaml")  # any node name: fuzzed files


def _validate(kind: str, path: Path) -> Report:
    fn: Callable[..., Report] = validate_consul if kind == "consul" else validate_vault
    return fn([str(path)], facts=FACTS)


def _check(kind: str, path: Path, text: str) -> None:
    path.write_text(text)
    try:
        report = _validate(kind, path)
    except ConfigError as err:
        assert err.path == str(path)
        assert err.line is None or err.line >= 1
        return
    assert isinstance(report, Report)


def _mutate(rng: random.Random, text: str) -> str:
    chars = list(text)
    for _ in range(rng.randint(1, 6)):
        op = rng.random()
        pos = rng.randrange(len(chars) + 1)
        if op < 0.4:
            chars[pos:pos] = list(rng.choice(SPECIAL))
        elif op < 0.7 and chars:
            del chars[min(pos, len(chars) - 1)]
        elif chars:
            chars[min(pos, len(chars) - 1)] = rng.choice(SPECIAL)
    return "".join(chars)


@pytest.mark.parametrize(("kind", "name", "text"), SEEDS)
def test_truncated_configs(tmp_path: Path, kind: str, name: str, text: str) -> None:
    rng = random.Random(1234)
    cuts = sorted(set(rng.sample(range(len(text)), min(60, len(text)))))
    for cut in cuts:
        _check(kind, tmp_path / name, text[:cut])


@pytest.mark.parametrize(("kind", "name", "text"), SEEDS)
def test_mutated_configs(tmp_path: Path, kind: str, name: str, text: str) -> None:
    rng = random.Random(4321 + len(name))
    for _ in range(100):
        _check(kind, tmp_path / name, _mutate(rng, text))


def test_random_token_soup(tmp_path: Path) -> None:
    rng = random.Random(99)
    for n in range(150):
        text = "".join(rng.choice(SPECIAL) for _ in range(rng.randint(0, 80)))
        _check("consul" if n % 2 else "vault", tmp_path / ("x.json" if n % 3 == 0 else "x.hcl"), text)


def test_random_templates_only_raise_template_errors() -> None:
    h = facts_from_dict({"default": host("10.0.0.1/24")}, "t").default
    assert h is not None
    parts = [
        "{{",
        "}}",
        " | ",
        "GetAllInterfaces",
        "GetPrivateIP",
        "include",
        "exclude",
        "sort",
        "attr",
        "join",
        "limit",
        "offset",
        "math",
        "unique",
        '"name"',
        '"network"',
        '"10.0.0.0/8"',
        '"address"',
        '"flags"',
        '"up|forwardable"',
        '"-size,type"',
        "1",
        "-2",
        "(",
        ")",
        ".",
        '"',
        "$x",
        "if",
        "end",
        "-",
    ]
    rng = random.Random(7)
    for _ in range(500):
        template = "".join(rng.choice(parts) + " " for _ in range(rng.randint(1, 12)))
        with contextlib.suppress(TemplateError, Unsupported):
            assert isinstance(evaluate(template, h), str)
