from __future__ import annotations

import io
import json
import threading
import time
from pathlib import Path

import pytest

from clusterops.errors import ConfigError, UsageError
from clusterops.kv import backup
from clusterops.kv.backup import Export, _Sink, decrypt, load_export, new_key, serialize
from clusterops.kv.pool import run_streaming
from clusterops.kv.replay import SecretRecord, VersionRecord


def _doc(n: int) -> Export:
    recs = tuple(
        SecretRecord(
            path=f"p{i:05d}/café #{i}",
            settings={"max_versions": 0, "custom_metadata": {"o": "t"}},
            current_version=2,
            versions=(VersionRecord(1, data={"pw": f"v{i}-1\n"}), VersionRecord(2, data={"pw": f"v{i}-2", "n": 1})),
        )
        for i in range(n)
    )
    return Export({"mount": "secret", "path": "x"}, recs)


@pytest.mark.parametrize("fmt", ["json", "yaml"])
@pytest.mark.parametrize("n", [0, 1, 40])
def test_streamed_serialisation_round_trips(fmt: str, n: int) -> None:
    doc = _doc(n)
    blob = serialize(doc, fmt)
    if fmt == "json":
        assert json.loads(blob)["format"] == backup.FORMAT  # plain JSON: the JSON parser reads it
    back = load_export(blob, key=None, where="x")
    assert back.records == doc.records


def test_encrypted_stream_round_trips_over_many_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_Sink, "CHUNK", 1000)
    key = new_key()
    out = io.BytesIO()
    sink = _Sink(out, key)
    plain = serialize(_doc(60), "json")
    for i in range(0, len(plain), 333):
        sink.write(plain[i : i + 333])
    sink.close()
    blob = out.getvalue()
    assert blob.startswith(backup.ENCRYPTED_STREAM_MAGIC) and blob.count(b"\n") > 5
    assert b"v1-1" not in blob
    assert decrypt(blob, key) == plain
    assert load_export(blob, key=key, where="x").records == _doc(60).records

    head, *lines = blob.split(b"\n")
    lines = [x for x in lines if x]
    for tampered in (
        [lines[1], lines[0], *lines[2:]],  # reordered
        lines[:-1],  # the last chunk cut off
        lines[:2] + lines[3:],  # one chunk dropped
    ):
        with pytest.raises(UsageError, match="out of order"):
            decrypt(b"\n".join([head, *tampered]) + b"\n", key)
    with pytest.raises(UsageError, match="cannot be decrypted"):
        decrypt(blob, new_key())


def test_a_bad_json_export_names_the_line() -> None:
    with pytest.raises(ConfigError, match=r"x:2: is not valid JSON"):
        load_export(b'{"format": 1,\n nope}', key=None, where="x")


def test_run_streaming_keeps_order_and_a_bounded_window() -> None:
    in_flight = 0
    peak = 0
    lock = threading.Lock()

    def slow(i: int) -> int:
        nonlocal in_flight, peak
        with lock:
            in_flight += 1
            peak = max(peak, in_flight)
        time.sleep(0.001 * (i % 3))
        with lock:
            in_flight -= 1
        if i == 7:
            raise ValueError("boom")
        return i * 2

    produced = 0

    def items():  # type: ignore[no-untyped-def]
        nonlocal produced
        for i in range(200):
            produced += 1
            yield i

    got = []
    for o in run_streaming(items(), slow, workers=4):
        assert produced - len(got) <= 4 * 4 + 1  # never more than the window read ahead
        got.append(o)
    assert [o.item for o in got] == list(range(200))
    assert got[7].error is not None and got[8].result == 16
    assert peak <= 4


def test_an_export_never_replaces_a_device_or_a_folder(tmp_path: Path) -> None:
    for target in (Path("/dev/null"), tmp_path):
        with pytest.raises(ConfigError):
            backup.PrivateFile(target).discard()
    with pytest.raises(ConfigError, match="cannot write"):
        backup.PrivateFile(Path("/proc/nope/e.yaml"))
    f = backup.PrivateFile(tmp_path / "sub" / "e.yaml")
    f.stream.write(b"x")
    f.commit()
    assert (tmp_path / "sub" / "e.yaml").read_bytes() == b"x"
    assert oct((tmp_path / "sub" / "e.yaml").stat().st_mode & 0o777) == "0o600"
