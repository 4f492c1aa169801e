"""The plans of copy, move, import and undo, without a server: what they say, that reading one writes
nothing, and that acting on a world that moved since the plan is refused before any write."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from clusterops.errors import CasConflict, NotFound
from clusterops.kv.apply_journal import ApplyJournalEntry, plan_entry
from clusterops.kv.backup import Export, execute_import, plan_import
from clusterops.kv.copymove import execute_copy, plan_copy
from clusterops.kv.model import SecretMetadata, SecretRef, VersionInfo
from clusterops.kv.replay import SecretRecord, VersionRecord

PAST = "2020-01-01T00:00:00Z"


def _meta(path: str, *states: str, **settings: Any) -> SecretMetadata:
    versions = tuple(
        VersionInfo(n, deletion_time=PAST if s == "deleted" else "", destroyed=s == "destroyed")
        for n, s in enumerate(states, start=1)
    )
    return SecretMetadata(SecretRef("secret", path), current_version=len(states), versions=versions, **settings)


class ReadOnly:
    """A KV v2 server in memory that answers reads; any write fails the test."""

    def __init__(self, secrets: dict[str, SecretMetadata]) -> None:
        self.secrets = secrets
        self.settings = SimpleNamespace(address="http://127.0.0.1:8200", namespace="")

    def server_identity(self) -> str:
        return "cluster:one"

    def scan(self, ref: SecretRef) -> list[str]:
        base = ref.path.strip("/") + "/"
        return sorted(p.removeprefix(base) for p in self.secrets if p.startswith(base))

    def read_metadata(self, ref: SecretRef) -> SecretMetadata:
        if ref.path not in self.secrets:
            raise NotFound(f"{ref}: not found")
        return self.secrets[ref.path]

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"{name} was called: a plan or a refused apply must not write")


def _tree() -> ReadOnly:
    return ReadOnly(
        {
            "src/a": _meta("src/a", "destroyed", "deleted", "live", custom_metadata={"o": "t"}),
            "src/dir/b": _meta("src/dir/b", "live"),
            "dst/dir/b": _meta("dst/dir/b", "live", "live"),
        }
    )


def test_a_copy_plan_says_what_lands_where_and_what_is_refused() -> None:
    c: Any = _tree()
    src, dst = SecretRef("secret", "src"), SecretRef("secret", "dst")
    plan = plan_copy(c, src, c, dst, all_versions=True)
    a, b = plan.items
    assert (a.path, a.action, a.carried, a.version_map) == ("a", "create", (1, 2, 3), {1: 1, 2: 2, 3: 3})
    assert a.notes() == [
        "v1 is destroyed: written empty, then destroyed",
        "v2 is soft-deleted: its data cannot be read; written empty, then deleted",
    ]
    assert b.action == "refused" and "secret/dst/dir/b already exists (version 2)" in b.refused
    doc = plan.to_dict()
    assert doc["summary"] == {"secrets": 1, "versions": 3, "refused": 1}
    assert doc["source"] == {"address": "http://127.0.0.1:8200", "namespace": "", "path": "secret/src"}
    forced = plan_copy(c, src, c, dst, all_versions=True, overwrite=True)
    assert forced.items[1].action == "add-on-top" and forced.items[1].version_map == {1: 3}
    assert "secret/src/dir/b -> add on top of v2 at secret/dst/dir/b: v1->v3" in "\n".join(forced.lines())


def test_a_move_plan_refuses_unreadable_versions_and_names_what_a_latest_only_move_loses() -> None:
    c: Any = _tree()
    src, dst = SecretRef("secret", "src"), SecretRef("secret", "moved")
    plan = plan_copy(c, src, c, dst, all_versions=True, move=True)
    assert "1 soft-deleted version(s) (v2) cannot be read" in plan.items[0].refused
    latest = plan_copy(c, src, c, dst, move=True, allow_history_loss=True)
    assert latest.items[0].carried == (3,) and latest.items[0].lost() == [1, 2]
    assert "LOSING v1, v2" in "\n".join(latest.lines())


def test_copy_refuses_to_act_on_a_world_that_moved_since_the_plan() -> None:
    c = _tree()
    src, dst = SecretRef("secret", "src"), SecretRef("secret", "dst")
    plan = plan_copy(c, src, c, dst, overwrite=True)  # type: ignore[arg-type]
    c.secrets["dst/a"] = _meta("dst/a", "live")  # a secret appeared at the destination
    c.secrets["src/dir/b"] = _meta("src/dir/b", "live", "live")  # and a source version moved
    c.secrets["src/new"] = _meta("src/new", "live")
    with pytest.raises(CasConflict) as caught:
        execute_copy(c, c, plan)  # type: ignore[arg-type]
    said = caught.value.message
    assert "3 change(s) since the plan was read; nothing was changed" in said
    assert "secret/dst/a changed at the destination (planned absent, now v1)" in said
    assert "secret/src/dir/b changed at the source (planned v1, now v2)" in said
    assert "secret/src/new appeared at the source" in said


def _export() -> Export:
    live = VersionRecord(1, data={"k": "v"})
    gone = VersionRecord(2, state="deleted")
    records = (
        SecretRecord("a", {"max_versions": 3}, 2, 1, versions=(live, gone)),
        SecretRecord("dir/b", {}, 1, 1, versions=(live,)),
    )
    return Export({"address": "http://elsewhere:8200", "path": "app"}, records)


def test_an_import_plan_predicts_numbers_and_losses_and_refuses_a_moved_destination() -> None:
    c = _tree()
    dst = SecretRef("secret", "dst")
    plan = plan_import(c, dst, _export(), file="e.yaml", overwrite=True)  # type: ignore[arg-type]
    a, b = plan.items
    assert (a.action, a.version_map, a.empty) == ("create", {1: 1, 2: 2}, (2,))
    assert (b.action, b.version_map) == ("add-on-top", {1: 3})
    assert plan.not_preserved()[1:] == [
        "version numbers of 1 secret(s) (see the notes per secret)",
        "data of 1 soft-deleted or destroyed version(s): not readable at export; restored empty, same state",
    ]
    c.secrets["dst/a"] = _meta("dst/a", "live")
    with pytest.raises(CasConflict, match=r"secret/dst/a changed at the destination \(planned absent, now v1\)"):
        execute_import(c, plan, _export())  # type: ignore[arg-type]


def _entry(**kw: Any) -> ApplyJournalEntry:
    base: dict[str, Any] = {"path": "app", "prior_version": 1, "prior_state": "live", "status": "written"}
    return ApplyJournalEntry(**{**base, **kw})


def test_undo_steps_are_decided_from_the_journal_and_the_secret_as_read() -> None:
    now = _meta("app", "live", "live", max_versions=4)
    step = plan_entry(_entry(new_version=2), now, force=False)
    assert (step.action, step.rewrite, step.current_version, step.delete) == ("rolled-back", 1, 2, None)
    assert "write v1's data again as v3" in step.line()
    step = plan_entry(_entry(new_version=2, prior_version=0, prior_state="absent"), now, force=False)
    assert (step.action, step.delete) == ("deleted", 2)
    later = _meta("app", "live", "live", "live")
    assert plan_entry(_entry(new_version=2), later, force=False).action == "skipped"
    assert plan_entry(_entry(new_version=2), later, force=True).rewrite == 1
    assert plan_entry(_entry(status="pending"), later, force=False).action == "unproven"
    gone = _meta("app", "deleted", "live")
    assert "no longer readable" in plan_entry(_entry(new_version=2), gone, force=False).message
    assert plan_entry(_entry(new_version=2), None, force=False).action == "skipped"
    meta = plan_entry(
        _entry(
            new_version=2,
            metadata_written=True,
            prior_settings={"max_versions": 0},
            written_settings={"max_versions": 4},
        ),
        now,
        force=False,
    )
    assert (meta.action, dict(meta.restore), dict(meta.written)) == (
        "rolled-back+metadata-restored", {"max_versions": 0}, {"max_versions": 4},
    )  # fmt: skip
