"""`clusterops vault ...` user mistakes: exit 2 with the file, line or node named, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from clusterops.cli.main import run


def test_a_broken_inventory_names_file_and_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    inv = tmp_path / "inv.yaml"
    inv.write_text("servers:\n  - name: v1\n    address: 10.0.0.1:8200\n    color: red\nvault:\n  token: abc\n")
    assert run(["vault", "check", "-i", str(inv)]) == 2
    err = capsys.readouterr().err
    assert f"{inv}:6" in err and "abc" not in err and "Traceback" not in err


def test_no_node_answering_is_a_connection_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    inv = tmp_path / "inv.yaml"
    inv.write_text("servers:\n  - name: v1\n    address: http://127.0.0.1:9\n")  # discard port: nothing listens
    assert run(["vault", "status", "-i", str(inv)]) == 2
    assert "http://127.0.0.1:9 is not answering" in capsys.readouterr().err


def test_restore_test_of_a_file_that_is_not_a_snapshot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "x.snap"
    bad.write_bytes(b"nope")
    assert run(["vault", "snapshot", "restore-test", str(bad)]) == 2
    assert str(bad) in capsys.readouterr().err
