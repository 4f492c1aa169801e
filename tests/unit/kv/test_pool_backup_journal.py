from __future__ import annotations

import json
import stat
import threading
from pathlib import Path

import pytest

from clusterops.atomicfile import write_private
from clusterops.errors import ConfigError, UsageError
from clusterops.kv.backup import Export, decrypt, encrypt, load_export, new_key, serialize
from clusterops.kv.pool import run_bounded
from clusterops.kv.replay import SecretRecord, VersionRecord


def test_run_bounded_keeps_order_and_bounds_concurrency() -> None:
    active, peak, lock = 0, 0, threading.Lock()

    def work(i: int) -> int:
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
        with lock:
            active -= 1
        return i * 2

    seen: list[tuple[int, int]] = []
    out = run_bounded(list(range(50)), work, workers=3, progress=lambda d, t: seen.append((d, t)))
    assert [o.result for o in out] == [i * 2 for i in range(50)]
    assert peak <= 3 and seen[-1] == (50, 50)


def test_run_bounded_stop_on_error_skips_the_rest() -> None:
    def work(i: int) -> int:
        if i == 0:
            raise ValueError("boom")
        return i

    out = run_bounded(list(range(20)), work, workers=1, stop_on_error=True)
    assert isinstance(out[0].error, ValueError) and all(o.skipped for o in out[1:])


def _export() -> Export:
    rec = SecretRecord(
        "app/db",
        {"max_versions": 3, "cas_required": True, "delete_version_after": "0s", "custom_metadata": {"o": "t"}},
        current_version=2,
        versions=(VersionRecord(1, state="deleted"), VersionRecord(2, data={"pw": "x"})),
    )
    return Export({"mount": "secret"}, (rec,))


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_export_round_trip(fmt: str) -> None:
    doc = _export()
    back = load_export(serialize(doc, fmt), key=None, where="mem")
    assert back.records == doc.records and back.unreadable_versions == 1


def test_encryption_round_trip_and_wrong_key() -> None:
    key = new_key()
    blob = encrypt(serialize(_export(), "yaml"), key)
    assert b"app/db" not in blob  # urlsafe base64 never holds a '/', so this cannot match by chance
    assert load_export(blob, key=key, where="mem").records == _export().records
    with pytest.raises(UsageError, match="cannot be decrypted"):
        decrypt(blob, new_key())
    with pytest.raises(UsageError, match="encrypted"):
        decrypt(blob, None)


def test_not_an_export() -> None:
    with pytest.raises(ConfigError):
        load_export(b"format: other\n", key=None, where="x")


def test_write_private_is_atomic_and_0600(tmp_path: Path) -> None:
    p = tmp_path / "sub" / "j.json"
    write_private(p, b"{}")
    write_private(p, json.dumps({"a": 1}).encode())
    assert json.loads(p.read_text()) == {"a": 1}
    assert stat.S_IMODE(p.stat().st_mode) == 0o600
    assert [f.name for f in p.parent.iterdir()] == ["j.json"]
