"""The apply journal on disk: a snapshot plus an appended log, readable after a crash at any point."""

from __future__ import annotations

import stat
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from clusterops.errors import ConfigError
from clusterops.kv.apply_journal import ApplyJournal, ApplyJournalEntry


def _start(folder: Path, n: int = 3) -> ApplyJournal:
    client: Any = SimpleNamespace(settings=SimpleNamespace(address="http://127.0.0.1:8200", namespace="/ns1/"))
    return ApplyJournal.start(folder, client, "secret", [ApplyJournalEntry(f"p{i}", 1, "live") for i in range(n)])


def test_each_mark_is_on_disk_and_replayed(tmp_path: Path) -> None:
    j = _start(tmp_path)
    j.mark("p0", "written", 2)
    j.mark("p1", "written", 5, metadata_written=True)
    j.mark("p1", "conflict")
    loaded = ApplyJournal.load(j.run_id, tmp_path)  # without finish: as a killed run leaves it
    assert loaded.header["status"] == "running" and loaded.header["namespace"] == "ns1"
    e = loaded.entries
    assert (e["p0"].status, e["p0"].new_version) == ("written", 2)
    assert (e["p1"].status, e["p1"].new_version, e["p1"].metadata_written) == ("conflict", 5, True)
    assert e["p2"].status == "pending" and e["p2"].new_version is None
    for f in (j.path, j.log_path):
        assert stat.S_IMODE(f.stat().st_mode) == 0o600
    j.finish("incomplete")
    again = ApplyJournal.load(str(j.path), tmp_path)
    assert again.header["status"] == "incomplete" and again.entries["p1"].new_version == 5


def test_a_last_line_cut_by_a_crash_is_ignored_a_broken_middle_one_is_not(tmp_path: Path) -> None:
    j = _start(tmp_path)
    j.mark("p0", "written", 2)
    with j.log_path.open("a") as log:
        log.write('{"path": "p1", "status": "writ')  # the process died mid-line
    assert ApplyJournal.load(j.run_id, tmp_path).entries["p1"].status == "pending"
    with j.log_path.open("a") as log:
        log.write('\n{"path": "p2", "status": "written", "new_version": 2}\n')
    with pytest.raises(ConfigError, match=r"\.log:2: is not a readable journal log"):
        ApplyJournal.load(j.run_id, tmp_path)
