"""CLI-level fuzzing of every file a user hands in: inventory, host facts, KV desired state,
playbook, saved KV plan, journal and KV export.

For each kind, 1,000 seeded malformed variants (see `mutate`) go through the real CLI entry
in-process with no server reachable (`harness`). None may end in a traceback or in exit 1 (which
means findings). For the kinds whose loaders this suite holds to it (`strict`: inventory,
playbook, journal), a rejected input names the file, and the line where the file is parseable
text; for the others, an error that does not is recorded as a gap. CLUSTEROPS_FUZZ_N changes the
count; CLUSTEROPS_FUZZ_REPORT=FILE writes every class with its exit codes, gaps and messages.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from clusterops.kv.sync import PLAN_FORMAT
from tests.unit.fuzz import mutate
from tests.unit.fuzz.harness import NO_SERVER, Outcome, invoke, names_line, offline

N = int(os.environ.get("CLUSTEROPS_FUZZ_N", "1000"))
SEED = 13

INVENTORY = """\
cluster: prod
consul:
  token_file: {token}
  tls_skip_verify: false
drivers:
  local:
    type: exec
    timeout: 30
    commands:
      stop: "echo stop {{node}}"
      switch: "echo switch {{version}}"
      start: "echo start {{node}}"
servers:
  - name: s1
    address: http://127.0.0.1:1
    driver: local
  - name: s2
    address: 127.0.0.1:2
    host: 127.0.0.1
    driver: local
  - name: s3
    address: http://127.0.0.1:3
    driver: {{type: exec, commands: {{stop: "true", start: "true"}}}}
"""

FACTS = """\
nodes:
  s1:
    interfaces:
      - name: lo
        flags: [up, loopback]
        addresses: [127.0.0.1/8, "::1/128"]
      - name: eth0
        flags: [up, broadcast, multicast]
        addresses: [10.0.0.1/24]
    default_route: eth0
    env:
      CONSUL_HTTP_ADDR: http://10.0.0.1:8500
default:
  interfaces:
    - {name: eth0, addresses: [10.0.0.9/24]}
  default_route: {interface: eth0}
"""

NODE_HCL = """\
node_name = "s1"
server = true
bootstrap_expect = 3
data_dir = "/tmp/s1"
bind_addr = "{{ GetPrivateIP }}"
client_addr = "127.0.0.1"
retry_join = ["10.0.0.2", "10.0.0.3"]
"""

DESIRED = """\
mount: secret
secrets:
  app/db:
    data:
      user: app
      password: {env: FUZZ_PASSWORD}
      port: "5432"
    metadata:
      max_versions: 5
      custom_metadata: {owner: team-a}
  app/api:
    data: {token: {env: FUZZ_PASSWORD}}
"""

PLAYBOOK = """\
name: fuzz
description: every offline step type
vars:
  wait: "0"
  greeting: hello
steps:
  - id: hello
    exec: "echo {{ greeting }}"
    timeout: 5s
  - id: nap
    pause: {seconds: "{{ wait }}", reason: fuzz}
    when: "{{ greeting }} == hello"
  - id: check
    validate.consul: {nodes: [node.hcl], facts: facts.yaml, strict: false}
    on_failure: {run: [cleanup], then: continue}
  - id: ask
    confirm: {prompt: "go on?"}
  - id: cleanup
    handler: true
    pause: {seconds: 0}
"""

RESUMABLE = 'name: resumable\nsteps:\n  - id: a\n    pause: {seconds: 0}\n  - id: b\n    confirm: {prompt: "go?"}\n'

PLAN = {
    "format": PLAN_FORMAT,
    "mount": "secret",
    "address": "http://127.0.0.1:1",
    "namespace": "",
    "created": "2026-12-01T00:00:00Z",
    "drift": True,
    "summary": {"create": 1, "update": 1, "unchanged": 0},
    "items": [
        {"path": "app/db", "action": "update", "version": 3, "live_state": "live",
         "keys": {"added": ["port"], "removed": [], "changed": ["password"]},
         "metadata": {"max_versions": {"live": 0, "desired": 5}}},
        {"path": "app/api", "action": "create", "version": 0, "live_state": "absent",
         "keys": {"added": ["token"], "removed": [], "changed": []}, "metadata": {}},
    ],
    "binding": {"key": "a2V5LWtleS1rZXkta2V5LWtleS1rZXkta2V5LWtleS0=",
                "paths": {"app/db": {"data": {"password": "hmac:0f", "port": "hmac:1e"}, "metadata": {}},
                          "app/api": {"data": {"token": "hmac:2d"}, "metadata": {}}}},
}  # fmt: skip

EXPORT = """\
format: clusterops-kv-export/1
source: {address: "http://127.0.0.1:1", mount: secret, path: app, kv_version: 2}
secrets:
  - path: db
    metadata: {max_versions: 5, cas_required: false, delete_version_after: 0s, custom_metadata: {owner: a},
               current_version: 2, oldest_version: 1, created_time: "2026-01-01T00:00:00Z",
               updated_time: "2026-01-02T00:00:00Z"}
    versions:
      - {version: 1, created_time: "2026-01-01T00:00:00Z", deletion_time: "", destroyed: false,
         data: {password: one}}
      - {version: 2, created_time: "2026-01-02T00:00:00Z", deletion_time: "", destroyed: false,
         data: {password: two}}
"""


@dataclass(frozen=True)
class Kind:
    name: str
    filename: str
    seed: Callable[[Path], str]
    argv: Callable[[Path, Path], list[str]]  # (workdir, the fuzzed file) -> CLI arguments
    strict: bool  # every rejected input names the file and (if parseable) the line; else gaps are recorded
    ok_codes: tuple[int, ...] = ()  # exit codes a still-valid input may give (besides NO_SERVER's 2)
    as_json: bool = False
    setup: Callable[[Path, pytest.MonkeyPatch], None] = lambda d, m: None
    not_ours: tuple[str, ...] = ()  # messages saying a well-formed file does not belong to this run


def _token(d: Path) -> str:
    (d / "consul.token").write_text("fuzz-token\n")
    return INVENTORY.format(token=d / "consul.token")


def _playbook_setup(d: Path, mp: pytest.MonkeyPatch) -> None:
    (d / "node.hcl").write_text(NODE_HCL)
    (d / "facts.yaml").write_text(FACTS)


def _journal_seed(d: Path) -> str:
    """A real journal: run RESUMABLE once (its confirm step fails without --yes), keep its journal."""
    from clusterops.playbook.model import load_playbook
    from clusterops.playbook.runner import Runner

    pb = d / "resumable.yaml"
    pb.write_text(RESUMABLE)
    runner = Runner(load_playbook(pb), apply=True, state_dir=d / "seed-state")
    runner.run()
    assert runner.journal is not None
    return runner.journal.path.read_text()


def _kv_stub(d: Path, mp: pytest.MonkeyPatch) -> None:
    """`kv apply --plan`: a client that answers nothing, and the fresh plan the saved one is checked
    against, so the saved plan is loaded and judged whatever order the command does it in."""
    from clusterops.errors import ConnectionFailed
    from clusterops.kv import sync
    from clusterops.settings import VaultSettings

    class Offline:
        settings = VaultSettings(address="http://127.0.0.1:1")

        def __getattr__(self, name: str) -> Any:
            raise ConnectionFailed(NO_SERVER)

    @contextlib.contextmanager
    def client(*args: object, **kw: object) -> Iterator[Offline]:
        yield Offline()

    (d / "desired.yaml").write_text(DESIRED)
    mp.setattr("clusterops.cli.kv.sync._client", client)
    mp.setattr(sync, "plan", lambda *a, **k: sync.SyncPlan.from_dict(PLAN, "fresh"))
    mp.setattr(sync, "apply_plan", lambda *a, **k: (_ for _ in ()).throw(ConnectionFailed(NO_SERVER)))


KINDS = [
    Kind("inventory", "inventory.yaml", _token, lambda d, f: ["consul", "upgrade", "-i", str(f), "--to", "1.14.11"],
         strict=True),
    Kind("facts", "facts.yaml", lambda d: FACTS,
         lambda d, f: ["validate", "consul", str(d / "node.hcl"), "--facts", str(f)], strict=True, ok_codes=(0, 1),
         setup=lambda d, m: (d / "node.hcl").write_text(NODE_HCL) and None),
    Kind("desired", "desired.yaml", lambda d: DESIRED, lambda d, f: ["kv", "apply", str(f)], strict=True),
    Kind("playbook", "playbook.yaml", lambda d: PLAYBOOK,
         lambda d, f: ["run", str(f), "--state-dir", str(d / "state")], strict=True, ok_codes=(0, 1),
         setup=_playbook_setup),
    Kind("plan", "plan.json", lambda d: json.dumps(PLAN, indent=1),
         lambda d, f: ["kv", "apply", str(d / "desired.yaml"), "--plan", str(f)], strict=True, as_json=True,
         setup=_kv_stub, ok_codes=(1,)),  # 1: a well-formed plan refused because what it binds differs
    Kind("journal", "state/playbook/20261201T000000Z-fuzz00.json", _journal_seed,
         lambda d, f: ["run", str(d / "resumable.yaml"), "--resume", "--state-dir", str(d / "state")],
         strict=True, ok_codes=(0, 1), as_json=True, not_ours=("no unfinished run of", "its steps changed since run")),
    Kind("export", "export.yaml", lambda d: EXPORT, lambda d, f: ["kv", "import", str(f), "secret/restored"],
         strict=True),
]  # fmt: skip

RECORD: dict[str, dict[str, dict[str, Any]]] = defaultdict(lambda: defaultdict(lambda: {"n": 0}))


def _parseable(content: str | bytes, as_json: bool) -> bool:
    if isinstance(content, bytes):
        return False
    try:
        data = (json.loads if as_json else yaml.safe_load)(content)
    except (ValueError, yaml.YAMLError, RecursionError):
        return False
    return data is not None  # an empty document has no line to name


def _short(outcome: Outcome, workdir: Path) -> str:
    return outcome.first_error().replace(str(workdir) + "/", "")[:300]


@pytest.mark.parametrize("kind", KINDS, ids=[k.name for k in KINDS])
def test_malformed_inputs_end_in_a_message_naming_the_file(
    kind: Kind, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FUZZ_PASSWORD", "fuzz-value")
    monkeypatch.delenv("CLUSTEROPS_DEBUG", raising=False)
    monkeypatch.chdir(tmp_path)
    seed_text = kind.seed(tmp_path)
    kind.setup(tmp_path, monkeypatch)
    offline(monkeypatch)
    if kind.name == "plan":  # re-applied: `offline` patches the VaultClient the stub stands in for
        _kv_stub(tmp_path, monkeypatch)
    target = tmp_path / kind.filename
    target.parent.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []  # fail the test
    gaps: list[str] = []  # a loader another change owns: recorded, asserted only where `strict`
    codes: Counter[int] = Counter()
    for i, (cls, content) in enumerate(mutate.cases(seed_text, as_json=kind.as_json, n=N, seed=SEED)):
        (target.write_bytes if isinstance(content, bytes) else target.write_text)(content)  # type: ignore[operator]
        outcome = invoke(kind.argv(tmp_path, target))
        codes[outcome.code] += 1
        entry = RECORD[kind.name][cls]
        entry["n"] += 1
        entry.setdefault("codes", Counter())[outcome.code] += 1
        entry.setdefault("messages", Counter())[_short(outcome, tmp_path)] += 1
        where = f"case {i} ({cls}, exit {outcome.code})"
        if "Traceback" in outcome.text:
            problems.append(f"{where}: a traceback: {outcome.first_error()}")
            continue
        if outcome.code not in (2, *kind.ok_codes):
            problems.append(f"{where}: exit {outcome.code}, expected 2: {outcome.first_error()}")
            continue
        if outcome.accepted or (outcome.code in kind.ok_codes and str(target) not in outcome.err):
            continue  # loaded cleanly: it reached the (absent) server, or was judged on its merits
        if "a bug in clusterops" in outcome.err:
            gap = f"{where}: unexpected error, no file named: {outcome.first_error()}"
        elif any(fragment in outcome.err for fragment in kind.not_ours):
            continue  # well-formed, but no longer the journal of this playbook: said so, with its folder
        elif str(target) not in outcome.text:
            gap = f"{where}: the message does not name the file: {outcome.first_error()}"
        elif not names_line(outcome, target) and _parseable(content, kind.as_json):  # the cheap test first
            gap = f"{where}: the message does not name the line: {outcome.first_error()}"
        else:
            continue
        (problems if kind.strict else gaps).append(gap)
        entry["gaps"] = entry.get("gaps", 0) + 1
    _write_record()
    assert sum(codes.values()) == N
    assert not problems, f"{len(problems)} of {N} {kind.name} cases:\n" + "\n".join(problems[:25])


def _write_record() -> None:
    out = os.environ.get("CLUSTEROPS_FUZZ_REPORT")
    if not out:
        return
    doc = {
        kind: {
            cls: {
                "cases": e["n"],
                "exit_codes": dict(sorted(e["codes"].items())),
                "gaps": e.get("gaps", 0),
                "messages": [f"{n}x {m}" for m, n in e["messages"].most_common(6)],
            }
            for cls, e in sorted(classes.items())
        }
        for kind, classes in RECORD.items()
    }
    Path(out).write_text(json.dumps(doc, indent=1))


def test_the_generators_are_deterministic() -> None:
    a = mutate.cases(PLAYBOOK, as_json=False, n=200, seed=SEED)
    assert a == mutate.cases(PLAYBOOK, as_json=False, n=200, seed=SEED)
    assert len({cls for cls, _ in a}) >= 12
    assert random.Random(SEED).random() == random.Random(SEED).random()
